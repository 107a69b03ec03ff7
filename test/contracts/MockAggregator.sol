// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A Chainlink AggregatorV3-style feed whose answer the test moves. Each update is a new
/// round stamped with the block time, as Chainlink's aggregators do.
contract MockAggregator {
    uint8 public immutable decimals;
    uint80 public latestRound;
    int256 private answer;
    uint256 private updatedAt;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 decimals_, int256 initialAnswer) {
        decimals = decimals_;
        _update(initialAnswer);
    }

    function setAnswer(int256 newAnswer) external {
        _update(newAnswer);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (latestRound, answer, updatedAt, updatedAt, latestRound);
    }

    function _update(int256 newAnswer) private {
        latestRound += 1;
        answer = newAnswer;
        updatedAt = block.timestamp;
        emit AnswerUpdated(newAnswer, latestRound, block.timestamp);
    }
}

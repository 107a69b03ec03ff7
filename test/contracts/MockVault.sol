// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The share-price side of an ERC-4626 vault: `convertToAssets` at a rate the test moves,
/// e.g. to a loss after an exploit.
contract MockVault {
    uint256 public assetsPerShare = 1e18;

    function setAssetsPerShare(uint256 rate) external {
        assetsPerShare = rate;
    }

    function convertToAssets(uint256 shares) external view returns (uint256) {
        return (shares * assetsPerShare) / 1e18;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

/// @title Pool shares as an ERC-1155 (docs/design.md section 7, "Positions change hands")
/// @notice Token `id` is a pool tranche: the pool id's 128 random bits shifted left by two, plus
/// the tranche (0 senior, 1 junior). One token is one share of the tranche in the platform's
/// ledger, which keeps the tranche's capital, premium and losses; while shares are tokens the
/// ledger holds them for this contract, earning and exposed like any others.
///
/// A provider asks the platform to issue free shares as tokens: the ledger moves them to this
/// contract's account and the minter issues them under a ticket, once (`issue` skips a ticket
/// issued before, so a batch resent after a crash, a fee bump or a reorg issues each ticket at
/// most once). The tokens move as ERC-1155 tokens. Whoever holds them redeems them (`redeem`
/// burns them) and the platform, once the burn is past its confirmations, credits the burner
/// with as many free shares in the ledger, which withdraw with the pool's cooldown.
/// The minter issues and nothing else; the owner sets the minter and the metadata address.
contract PositionToken is ERC1155 {
    address public owner;
    address public minter;
    mapping(uint256 => bool) public issued;

    event Issued(uint256 indexed ticket, address indexed to, uint256 indexed id, uint256 amount);
    event Redeemed(address indexed holder, uint256 indexed id, uint256 amount);
    event MinterChanged(address indexed previousMinter, address indexed newMinter);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error NotMinter();
    error LengthMismatch();
    error ZeroAddress();
    error ZeroAmount();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(address owner_, address minter_, string memory uri_) ERC1155(uri_) {
        if (owner_ == address(0) || minter_ == address(0)) revert ZeroAddress();
        owner = owner_;
        minter = minter_;
        emit OwnershipTransferred(address(0), owner_);
        emit MinterChanged(address(0), minter_);
    }

    /// @notice Issues `amounts[i]` of token `ids[i]` to `to[i]` under `tickets[i]`, skipping
    /// tickets issued before; returns how many it issued. No acceptance check: a holder contract
    /// that does not implement onERC1155Received still gets its shares (it asked for them), and
    /// no recipient can revert the batch.
    function issue(address[] calldata to, uint256[] calldata ids, uint256[] calldata amounts, uint256[] calldata tickets)
        external
        returns (uint256 count)
    {
        if (msg.sender != minter) revert NotMinter();
        if (to.length != ids.length || to.length != amounts.length || to.length != tickets.length) revert LengthMismatch();
        uint256[] memory one = new uint256[](1);
        uint256[] memory amount = new uint256[](1);
        for (uint256 i; i < tickets.length; ++i) {
            if (issued[tickets[i]] || to[i] == address(0) || amounts[i] == 0) continue;
            issued[tickets[i]] = true;
            one[0] = ids[i];
            amount[0] = amounts[i];
            _update(address(0), to[i], one, amount);
            emit Issued(tickets[i], to[i], ids[i], amounts[i]);
            ++count;
        }
    }

    /// @notice Which of `tickets` were issued, in one call.
    function issuedOf(uint256[] calldata tickets) external view returns (bool[] memory done) {
        done = new bool[](tickets.length);
        for (uint256 i; i < tickets.length; ++i) {
            done[i] = issued[tickets[i]];
        }
    }

    /// @notice Burns `amount` of the caller's token `id`: the platform credits the caller with as
    /// many free shares of the tranche in its ledger once the burn is past its confirmations.
    function redeem(uint256 id, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        _burn(msg.sender, id, amount);
        emit Redeemed(msg.sender, id, amount);
    }

    function setMinter(address newMinter) external onlyOwner {
        if (newMinter == address(0)) revert ZeroAddress();
        emit MinterChanged(minter, newMinter);
        minter = newMinter;
    }

    /// @notice Where `uri(id)` points: the API's metadata route, with `{id}` as ERC-1155 says.
    function setURI(string calldata uri_) external onlyOwner {
        _setURI(uri_);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title A cover policy as an ERC-721 (docs/design.md section 6, "Policies change hands")
/// @notice Token `id` is policy `pol_<32 hex digits>` read as a number: the minter mints it to
/// the buyer once the purchase is recorded, and whoever holds it when the policy's incident
/// confirms is paid. `mint` skips an id that exists, so a batch resent after a crash, a fee
/// bump or a reorg mints each policy at most once. The minter mints and nothing else; the
/// owner sets the minter and the metadata address. Transfers are ERC-721's own.
contract PolicyToken is ERC721 {
    address public owner;
    address public minter;
    string private base;

    event MinterChanged(address indexed previousMinter, address indexed newMinter);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event BaseURIChanged(string baseURI);

    error NotOwner();
    error NotMinter();
    error LengthMismatch();
    error ZeroAddress();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(string memory name_, string memory symbol_, address owner_, address minter_, string memory baseURI_)
        ERC721(name_, symbol_)
    {
        if (owner_ == address(0) || minter_ == address(0)) revert ZeroAddress();
        owner = owner_;
        minter = minter_;
        base = baseURI_;
        emit OwnershipTransferred(address(0), owner_);
        emit MinterChanged(address(0), minter_);
    }

    /// @notice Mints `ids[i]` to `to[i]`, skipping ids that exist; returns how many it minted.
    /// A plain `_mint`: a holder contract that does not implement onERC721Received still gets
    /// its policy (the buyer chose that address), and no recipient can revert the batch.
    function mint(address[] calldata to, uint256[] calldata ids) external returns (uint256 minted) {
        if (msg.sender != minter) revert NotMinter();
        if (to.length != ids.length) revert LengthMismatch();
        for (uint256 i; i < ids.length; ++i) {
            if (_ownerOf(ids[i]) != address(0) || to[i] == address(0)) continue;
            _mint(to[i], ids[i]);
            ++minted;
        }
    }

    /// @notice Which of `ids` exist, in one call.
    function mintedOf(uint256[] calldata ids) external view returns (bool[] memory minted) {
        minted = new bool[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            minted[i] = _ownerOf(ids[i]) != address(0);
        }
    }

    function setMinter(address newMinter) external onlyOwner {
        if (newMinter == address(0)) revert ZeroAddress();
        emit MinterChanged(minter, newMinter);
        minter = newMinter;
    }

    /// @notice Where `tokenURI(id)` points: the API's metadata route, `<baseURI><id>`.
    function setBaseURI(string calldata baseURI_) external onlyOwner {
        base = baseURI_;
        emit BaseURIChanged(baseURI_);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function _baseURI() internal view override returns (string memory) {
        return base;
    }
}

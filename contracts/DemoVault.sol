// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @notice A deliberately vulnerable ERC-4626 vault for local chains, demos and tests only:
/// OpenZeppelin's ERC-4626 over any ERC-20, pausable by its deployer, with the bug the demo
/// exploits (`sweep` lets anyone move the vault's assets, as a missing access check would).
/// Its share price moves as real vaults' do: up with yield or a donation (anyone may transfer
/// assets to it), down when its assets are taken, back to 1:1 when every share is redeemed.
/// Never deploy it where its asset has value.
contract DemoVault is ERC4626, Pausable {
    using SafeERC20 for IERC20;

    address public immutable guardian;

    constructor(IERC20 asset_) ERC20("Demo Vault Share", "dvUSDC") ERC4626(asset_) {
        guardian = msg.sender;
    }

    /// @notice The bug: no access check. An exploit is one call.
    function sweep(address to, uint256 assets) external {
        IERC20(asset()).safeTransfer(to, assets);
    }

    function pause() external {
        require(msg.sender == guardian, "DemoVault: caller is not the guardian");
        _pause();
    }

    function unpause() external {
        require(msg.sender == guardian, "DemoVault: caller is not the guardian");
        _unpause();
    }

    function deposit(uint256 assets, address receiver) public override whenNotPaused returns (uint256) {
        return super.deposit(assets, receiver);
    }

    function redeem(uint256 shares, address receiver, address owner) public override whenNotPaused returns (uint256) {
        return super.redeem(shares, receiver, owner);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {SmartWallet} from "./SmartWallet.sol";

/// Deploys SmartWallets at CREATE2 addresses known before deployment (ERC-6492's counterfactual wallets).
contract SmartWalletFactory {
    function deploy(address owner, bytes32 salt) external returns (address wallet) {
        wallet = address(new SmartWallet{salt: salt}(owner));
    }

    function addressOf(address owner, bytes32 salt) external view returns (address) {
        bytes32 code = keccak256(abi.encodePacked(type(SmartWallet).creationCode, abi.encode(owner)));
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, code)))));
    }
}

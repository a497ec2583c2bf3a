// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// A THORChain-style router for the link tests: the entry points and events of THORChain's
/// router (`deposit` forwards the ether to the vault and emits `Deposit`; `transferOut` pays
/// `to` and emits `TransferOut`), for ether only and with nothing else.
contract Router {
    event Deposit(address indexed to, address indexed asset, uint256 amount, string memo);
    event TransferOut(address indexed vault, address indexed to, address asset, uint256 amount, string memo);

    function deposit(address payable vault, address asset, uint256 amount, string calldata memo) external payable {
        require(asset == address(0) && amount == msg.value, "ether only, amount = value");
        (bool ok, ) = vault.call{value: msg.value}("");
        require(ok, "vault refused");
        emit Deposit(vault, asset, amount, memo);
    }

    function transferOut(address payable to, address asset, uint256 amount, string calldata memo) external payable {
        require(asset == address(0) && amount == msg.value, "ether only, amount = value");
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "payee refused");
        emit TransferOut(msg.sender, to, asset, amount, memo);
    }
}

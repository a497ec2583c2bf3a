// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// A THORChain-style router v4 for the link tests (tests/thorchain_router.rs): the events of
/// THORChain's router v4 that move ether, behind simplified entry points. `deposit` forwards
/// the ether to the vault and emits `Deposit`; `transferOutAndCall` hands the vault's ether to
/// an aggregator (`swapOut`), paying `to` directly if that call fails, and emits
/// `TransferOutAndCall`; `returnVaultAssets` moves a vault's ether to another vault and emits
/// `VaultTransfer`. Compiled with solcjs like the other test contracts (EVM shanghai, optimizer
/// 200 runs); the bytecode is in ./build.
contract RouterV4 {
    struct Coin {
        address asset;
        uint256 amount;
    }

    event Deposit(address indexed to, address indexed asset, uint256 amount, string memo);
    event TransferOutAndCall(address indexed vault, address target, uint256 amount, address finalAsset, address to, uint256 amountOutMin, string memo);
    event VaultTransfer(address indexed oldVault, address indexed newVault, Coin[] coins, string memo);

    function deposit(address payable vault, address asset, uint256 amount, string calldata memo) external payable {
        require(asset == address(0) && amount == msg.value, "ether only, amount = value");
        (bool ok, ) = vault.call{value: msg.value}("");
        require(ok, "vault refused");
        emit Deposit(vault, asset, amount, memo);
    }

    function transferOutAndCall(address payable target, address finalAsset, address to, uint256 amountOutMin, string calldata memo) external payable {
        (bool swapped, ) = target.call{value: msg.value}(
            abi.encodeWithSignature("swapOut(address,address,uint256)", finalAsset, to, amountOutMin)
        );
        if (!swapped) {
            (bool ok, ) = payable(to).call{value: msg.value}("");
            require(ok, "recipient refused");
        }
        emit TransferOutAndCall(msg.sender, target, msg.value, finalAsset, to, amountOutMin, memo);
    }

    function returnVaultAssets(address payable newVault, string calldata memo) external payable {
        (bool ok, ) = newVault.call{value: msg.value}("");
        require(ok, "vault refused");
        emit VaultTransfer(msg.sender, newVault, new Coin[](0), memo);
    }
}

/// A DEX aggregator stand-in: `swapOut` keeps the ether (the swap to the final asset is not
/// what the test looks at) and says what it was asked.
contract Aggregator {
    event SwapOut(address finalAsset, address to, uint256 amountIn, uint256 amountOutMin);

    function swapOut(address finalAsset, address to, uint256 amountOutMin) external payable {
        emit SwapOut(finalAsset, to, msg.value, amountOutMin);
    }
}

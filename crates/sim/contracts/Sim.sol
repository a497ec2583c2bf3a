// SPDX-License-Identifier: Apache-2.0
// The world the heist simulator (crates/sim) deploys on an EVM node: a freezable stablecoin, a
// constant-product pool swapping it against ether, and a fixed-denomination mixer. Compiled by
// scripts/compile-test-contracts (solcjs from npm); the bytecode in ./build is committed and
// embedded in the crate, so running the simulator needs no compiler.
pragma solidity ^0.8.24;

/// ERC-20 stablecoin whose issuer mints and can freeze addresses (a frozen address can neither
/// send nor receive), like the large fiat-backed tokens.
contract Stablecoin {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => bool) public frozen;
    address public issuer;
    string public constant name = "Sim Dollar";
    string public constant symbol = "SUSD";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Frozen(address indexed who, bool frozen);

    constructor() {
        issuer = msg.sender;
    }

    function mint(address to, uint256 value) external {
        require(msg.sender == issuer, "issuer");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function setFrozen(address who, bool f) external {
        require(msg.sender == issuer, "issuer");
        frozen[who] = f;
        emit Frozen(who, f);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        require(allowance[from][msg.sender] >= value, "allowance");
        allowance[from][msg.sender] -= value;
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) internal {
        require(!frozen[from] && !frozen[to], "frozen");
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

interface IToken {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function transfer(address to, uint256 value) external returns (bool);
}

/// Constant-product pool (x·y = k, 0.3 % fee on the input) between one token and ether.
contract Pool {
    IToken public immutable token;
    uint256 public reserveToken;
    uint256 public reserveEth;

    event Swap(address indexed who, uint256 tokenIn, uint256 ethIn, uint256 tokenOut, uint256 ethOut);
    event Liquidity(address indexed who, uint256 tokenAmount, uint256 ethAmount);

    constructor(IToken token_) {
        token = token_;
    }

    /// Adds `tokenAmount` (approved beforehand) and the ether sent, at any ratio (first provider).
    function addLiquidity(uint256 tokenAmount) external payable {
        require(token.transferFrom(msg.sender, address(this), tokenAmount), "pull");
        reserveToken += tokenAmount;
        reserveEth += msg.value;
        emit Liquidity(msg.sender, tokenAmount, msg.value);
    }

    function quoteTokenForEth(uint256 amountIn) public view returns (uint256) {
        return (reserveEth * amountIn * 997) / (reserveToken * 1000 + amountIn * 997);
    }

    function quoteEthForToken(uint256 amountIn) public view returns (uint256) {
        return (reserveToken * amountIn * 997) / (reserveEth * 1000 + amountIn * 997);
    }

    function swapTokenForEth(uint256 amountIn, uint256 minOut) external returns (uint256 out) {
        out = quoteTokenForEth(amountIn);
        require(out >= minOut, "slippage");
        require(token.transferFrom(msg.sender, address(this), amountIn), "pull");
        reserveToken += amountIn;
        reserveEth -= out;
        (bool ok,) = payable(msg.sender).call{value: out}("");
        require(ok, "send");
        emit Swap(msg.sender, amountIn, 0, 0, out);
    }

    function swapEthForToken(uint256 minOut) external payable returns (uint256 out) {
        out = quoteEthForToken(msg.value);
        require(out >= minOut, "slippage");
        reserveEth += msg.value;
        reserveToken -= out;
        require(token.transfer(msg.sender, out), "send");
        emit Swap(msg.sender, 0, msg.value, out, 0);
    }
}

/// Tornado-style mixer with fixed denominations. A deposit carries a commitment; a withdrawal
/// names a nullifier hash and a fresh recipient. The zero-knowledge proof that ties the two is
/// replaced by a relayer the mixer trusts: on chain, commitment and nullifier are unrelated
/// random values, so nothing links a withdrawal to its deposit. Withdrawals per denomination
/// never exceed deposits.
contract Mixer {
    address public immutable relayer;
    mapping(uint256 => bool) public isDenomination;
    mapping(uint256 => uint256) public unspent;
    mapping(bytes32 => bool) public commitments;
    mapping(bytes32 => bool) public nullifiers;

    event Deposit(bytes32 indexed commitment, uint256 denomination, uint256 timestamp);
    event Withdrawal(address to, bytes32 nullifierHash, uint256 denomination);

    constructor(address relayer_, uint256[] memory denominations) {
        relayer = relayer_;
        for (uint256 i = 0; i < denominations.length; i++) {
            isDenomination[denominations[i]] = true;
        }
    }

    function deposit(bytes32 commitment) external payable {
        require(isDenomination[msg.value], "denomination");
        require(!commitments[commitment], "commitment used");
        commitments[commitment] = true;
        unspent[msg.value] += 1;
        emit Deposit(commitment, msg.value, block.timestamp);
    }

    function withdraw(bytes32 nullifierHash, address payable to, uint256 denomination) external {
        require(msg.sender == relayer, "relayer");
        require(!nullifiers[nullifierHash], "spent");
        require(unspent[denomination] > 0, "empty");
        nullifiers[nullifierHash] = true;
        unspent[denomination] -= 1;
        (bool ok,) = to.call{value: denomination}("");
        require(ok, "send");
        emit Withdrawal(to, nullifierHash, denomination);
    }
}

/// Lock/mint bridge to a UTXO chain. `lock` takes ether and names the payee on the other chain
/// (the operator pays it out there from the bridge's UTXO wallet); `release` pays ether out for
/// a deposit made to the bridge's UTXO address, naming that deposit's txid. Only the operator
/// releases; `fund` lets it add liquidity.
contract Bridge {
    address public immutable operator;

    event Locked(address indexed from, uint256 amount, string destination);
    event Released(address indexed to, uint256 amount, bytes32 sourceTx);

    constructor() {
        operator = msg.sender;
    }

    function fund() external payable {}

    function lock(string calldata destination) external payable {
        require(msg.value > 0, "amount");
        emit Locked(msg.sender, msg.value, destination);
    }

    function release(address payable to, uint256 amount, bytes32 sourceTx) external {
        require(msg.sender == operator, "operator");
        (bool ok,) = to.call{value: amount}("");
        require(ok, "send");
        emit Released(to, amount, sourceTx);
    }
}

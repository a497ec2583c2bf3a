// SPDX-License-Identifier: Apache-2.0
// Contracts the anvil tests deploy to make every kind of value movement happen on a real node.
// Compiled by scripts/compile-test-contracts (solcjs from npm); the bytecode is committed in
// ./build so tests need no compiler. Deliberately minimal: no library code, only the events and
// state changes the standards define.
pragma solidity ^0.8.24;

/// ERC-20 with the whole supply minted to the deployer.
contract Token {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    string public name;
    string public symbol;
    uint8 public decimals;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 supply) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
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

    function burn(uint256 value) external {
        _move(msg.sender, address(0), value);
    }

    function _move(address from, address to, uint256 value) internal {
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

/// WETH9's behaviour: Deposit/Withdrawal instead of Transfer on wrap and unwrap.
contract Weth {
    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Deposit(address indexed dst, uint256 wad);
    event Withdrawal(address indexed src, uint256 wad);

    receive() external payable {
        deposit();
    }

    function deposit() public payable {
        balanceOf[msg.sender] += msg.value;
        emit Deposit(msg.sender, msg.value);
    }

    function withdraw(uint256 wad) external {
        require(balanceOf[msg.sender] >= wad, "balance");
        balanceOf[msg.sender] -= wad;
        (bool ok,) = payable(msg.sender).call{value: wad}("");
        require(ok, "send");
        emit Withdrawal(msg.sender, wad);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}

/// Holds value until told to self-destruct.
contract Bomb {
    constructor() payable {}

    receive() external payable {}

    function boom(address payable to) external {
        selfdestruct(to);
    }
}

/// Always refuses.
contract Reverter {
    receive() external payable {
        revert("no");
    }

    function fail() external payable {
        revert("no");
    }
}

/// Moves value internally in every way the EVM has.
contract Forwarder {
    receive() external payable {}

    /// CALL with value.
    function forward(address payable to) external payable {
        (bool ok,) = to.call{value: msg.value}("");
        require(ok, "forward");
    }

    /// Two CALLs with value, and keeps a third of it.
    function split(address payable a, address payable b) external payable {
        uint256 third = msg.value / 3;
        (bool ok1,) = a.call{value: third}("");
        (bool ok2,) = b.call{value: third}("");
        require(ok1 && ok2, "split");
    }

    /// CREATE with an endowment.
    function create(uint256 endowment) external payable returns (address) {
        return address(new Bomb{value: endowment}());
    }

    /// CREATE2 with an endowment.
    function create2(bytes32 salt, uint256 endowment) external payable returns (address) {
        return address(new Bomb{salt: salt, value: endowment}());
    }

    /// A CALL with value to a contract that reverts, under a call that succeeds: the value
    /// stays here.
    function tryForward(address payable to) external payable {
        (bool ok,) = to.call{value: msg.value}("");
        ok;
    }

    /// A call that forwards value, then reverts: everything under it is undone, the outer
    /// call goes on.
    function deepRevert(address payable to) external payable {
        try this.forwardThenRevert{value: msg.value}(to) {} catch {}
    }

    function forwardThenRevert(address payable to) external payable {
        (bool ok,) = to.call{value: msg.value}("");
        require(ok, "inner");
        revert("undo");
    }

    /// CREATE with value and SELFDESTRUCT to someone else, in one tx (the contract goes).
    function createAndDestroy(address payable beneficiary) external payable {
        Bomb b = new Bomb{value: msg.value}();
        b.boom(beneficiary);
    }

    /// CREATE with value and SELFDESTRUCT to itself in one tx: the value is destroyed.
    function createAndBurn() external payable {
        Bomb b = new Bomb{value: msg.value}();
        b.boom(payable(address(b)));
    }
}

/// ERC-721 transfers (ids may exceed 128 bits).
contract Nft {
    mapping(uint256 => address) public ownerOf;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    function mint(address to, uint256 id) external {
        require(ownerOf[id] == address(0), "minted");
        ownerOf[id] = to;
        emit Transfer(address(0), to, id);
    }

    function transferFrom(address from, address to, uint256 id) external {
        require(ownerOf[id] == from && from == msg.sender, "owner");
        ownerOf[id] = to;
        emit Transfer(from, to, id);
    }
}

/// ERC-1155 single and batch transfers (no receiver hooks: not what is tested).
contract Multi {
    mapping(uint256 => mapping(address => uint256)) public balanceOf;

    event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value);
    event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values);

    function mint(address to, uint256 id, uint256 value) external {
        balanceOf[id][to] += value;
        emit TransferSingle(msg.sender, address(0), to, id, value);
    }

    function safeBatchTransferFrom(address from, address to, uint256[] calldata ids, uint256[] calldata values, bytes calldata) external {
        require(from == msg.sender && ids.length == values.length, "batch");
        for (uint256 i = 0; i < ids.length; i++) {
            balanceOf[ids[i]][from] -= values[i];
            balanceOf[ids[i]][to] += values[i];
        }
        emit TransferBatch(msg.sender, from, to, ids, values);
    }
}

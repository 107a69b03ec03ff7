// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

/// @title Treasury of the parametric cover marketplace (docs/design.md section 10)
/// @notice Holds the settlement token. Money comes in through `deposit` (credited off chain
/// to `beneficiary` after confirmations); it leaves only through `pay`, called by the
/// operator with the next batch number, so a batch number is spent exactly once and a
/// resent or replayed batch can never pay twice. The owner pauses and rotates the operator;
/// nobody else moves tokens out, the owner included. A leaked operator key is bounded: the
/// operator pays at most `payoutCap` per day (the owner lowers it at once and raises it only
/// after `CAP_RAISE_DELAY`), and a guardian key can pause payouts. A deposit credits what
/// arrived (a fee-on-transfer token credits less than was sent).
/// @notice Capital that earns (issue 68): the operator may place tokens in an ERC-4626 vault
/// over `token` that the owner allowed, and redeem them, each move under the next batch number
/// as a payment is, so a move too executes once however often it is sent. The vault's shares
/// stay with the treasury and come back only to it: a leaked operator key can move money
/// between the treasury and an allowed vault, never out.
contract Treasury {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    address public owner;
    address public operator;
    bool public paused;
    /// @notice The only batch number `pay` accepts; it grows by one per executed batch.
    uint256 public nextBatch;
    /// @notice May pause (never unpause): a key kept apart from the operator's.
    address public guardian;
    /// @notice The most `pay` sends per day (a day counted from `periodStart`).
    uint256 public payoutCap;
    uint256 public periodStart;
    uint256 public paidInPeriod;
    /// @notice A raise of the cap proposed by the owner, and when it may be applied.
    uint256 public pendingCap;
    uint256 public pendingCapAt;
    uint256 public constant CAP_PERIOD = 1 days;
    uint256 public constant CAP_RAISE_DELAY = 2 days;
    /// @notice Gas each transfer may use: a token (or a hook it calls) that burns gas for one
    /// payee fails that payee's transfer, not the batch.
    uint256 public constant TRANSFER_GAS = 150_000;
    /// @notice Vaults the owner allows the operator to place tokens in; every vault ever
    /// allowed stays listed (at most MAX_VAULTS), so what is in one is always counted and can
    /// always be redeemed, allowed or not.
    mapping(address => bool) public vaultAllowed;
    address[] public vaults;
    uint256 public constant MAX_VAULTS = 8;

    event Deposited(address indexed beneficiary, address indexed from, uint256 amount);
    event Paid(uint256 indexed batch, address indexed recipient, uint256 amount);
    /// @notice Batch `batch` paid `count` transfers totalling `total`; those the token refused are PayFailed.
    event BatchPaid(uint256 indexed batch, uint256 count, uint256 total);
    /// @notice The token refused transfer `index` of batch `batch` (a blacklisted or reverting
    /// recipient, a paused token): nothing moved for it, the rest of the batch was paid.
    event PayFailed(uint256 indexed batch, uint256 index, address indexed recipient, uint256 amount, bytes reason);
    event OperatorChanged(address indexed previousOperator, address indexed newOperator);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Paused(address indexed by);
    event Unpaused(address indexed by);
    event GuardianChanged(address indexed previousGuardian, address indexed newGuardian);
    event PayoutCapProposed(uint256 cap, uint256 effectiveAt);
    event PayoutCapChanged(uint256 previousCap, uint256 newCap);
    event VaultAllowed(address indexed vault, bool allowed);
    /// @notice Batch `batch` placed `assets` of the token in `vault` for `shares`.
    event Placed(uint256 indexed batch, address indexed vault, uint256 assets, uint256 shares);
    /// @notice Batch `batch` redeemed `shares` of `vault` for `assets` of the token.
    event Redeemed(uint256 indexed batch, address indexed vault, uint256 shares, uint256 assets);

    error NotOwner();
    error NotOperator();
    error IsPaused();
    error WrongBatch(uint256 expected, uint256 given);
    error LengthMismatch();
    error TreasuryShort(uint256 balance, uint256 needed);
    error ZeroAmount();
    error ZeroAddress();
    error NotOwnerOrGuardian();
    error CapExceeded(uint256 available, uint256 needed);
    error CapRaiseNotDue(uint256 effectiveAt);
    error GasTooLow(uint256 left, uint256 needed);
    error NotThisAsset(address vault);
    error VaultNotAllowed(address vault);
    error UnknownVault(address vault);
    error TooManyVaults();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier whenNotPaused() {
        if (paused) revert IsPaused();
        _;
    }

    constructor(IERC20 token_, address owner_, address operator_, uint256 payoutCap_) {
        if (address(token_) == address(0) || owner_ == address(0) || operator_ == address(0)) revert ZeroAddress();
        token = token_;
        owner = owner_;
        operator = operator_;
        payoutCap = payoutCap_;
        periodStart = block.timestamp;
        emit OwnershipTransferred(address(0), owner_);
        emit OperatorChanged(address(0), operator_);
        emit PayoutCapChanged(0, payoutCap_);
    }

    /// @notice Pulls `amount` from the caller (after `approve`) for `beneficiary`'s wallet.
    function deposit(uint256 amount, address beneficiary) external whenNotPaused {
        _deposit(amount, beneficiary);
    }

    /// @notice One-transaction deposit with an EIP-2612 permit. A permit already used (for
    /// example front-run by someone who saw it) does not block the deposit if the allowance
    /// is there.
    function depositWithPermit(uint256 amount, address beneficiary, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
    {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(amount, beneficiary);
    }

    function _deposit(uint256 amount, address beneficiary) private {
        if (amount == 0) revert ZeroAmount();
        if (beneficiary == address(0)) revert ZeroAddress();
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        // What arrived, not what was asked: a token that takes a fee on transfer credits less.
        uint256 received = token.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroAmount();
        emit Deposited(beneficiary, msg.sender, received);
    }

    /// @notice Pays batch number `batch`: one storage write for the batch, one transfer and
    /// one event per payment. A transfer the token refuses (a blacklisted payee, a paused
    /// token, a recipient that reverts) is recorded as PayFailed and moves nothing, while the
    /// rest of the batch is paid: one payee can never stop the others. Anything wrong with the
    /// batch itself (number, lengths, balance, cap, gas) reverts it whole, spending nothing.
    function pay(uint256 batch, address[] calldata recipients, uint256[] calldata amounts) external whenNotPaused {
        if (msg.sender != operator) revert NotOperator();
        if (batch != nextBatch) revert WrongBatch(nextBatch, batch);
        if (recipients.length != amounts.length) revert LengthMismatch();
        uint256 total;
        for (uint256 i; i < amounts.length; ++i) {
            total += amounts[i];
        }
        uint256 balance = token.balanceOf(address(this));
        if (balance < total) revert TreasuryShort(balance, total);
        if (block.timestamp >= periodStart + CAP_PERIOD) {
            periodStart = block.timestamp;
            paidInPeriod = 0;
        }
        if (paidInPeriod + total > payoutCap) revert CapExceeded(payoutCap - paidInPeriod, total);
        nextBatch = batch + 1;
        uint256 paid;
        uint256 count;
        for (uint256 i; i < recipients.length; ++i) {
            (bool ok, bytes memory reason) = _tryTransfer(recipients[i], amounts[i]);
            if (ok) {
                paid += amounts[i];
                ++count;
                emit Paid(batch, recipients[i], amounts[i]);
            } else {
                emit PayFailed(batch, i, recipients[i], amounts[i], reason);
            }
        }
        paidInPeriod += paid;
        emit BatchPaid(batch, count, paid);
    }

    /// @dev One transfer that cannot revert the batch: SafeERC20's rules (a call that
    /// reverts, returns false, or reaches no code fails) with bounded gas and return data.
    /// Too little gas left for a full try reverts the batch instead, so a transaction sent
    /// with too little gas never records a payee as refused.
    function _tryTransfer(address to, uint256 amount) private returns (bool, bytes memory) {
        if (to == address(0)) return (false, abi.encodeWithSelector(ZeroAddress.selector));
        uint256 needed = (TRANSFER_GAS * 64) / 63 + 20_000;
        if (gasleft() < needed) revert GasTooLow(gasleft(), needed);
        (bool ok, bytes memory ret) =
            address(token).call{gas: TRANSFER_GAS}(abi.encodeCall(IERC20.transfer, (to, amount)));
        if (ret.length > 256) {
            assembly {
                mstore(ret, 256)
            }
        }
        if (!ok) return (false, ret);
        if (ret.length == 0 ? address(token).code.length > 0 : (ret.length >= 32 && abi.decode(ret, (uint256)) == 1)) {
            return (true, "");
        }
        return (false, ret);
    }

    /// @notice Batch `batch`: places `assets` of the treasury's tokens in an allowed vault. The
    /// shares minted are the treasury's. Reverts whole (spending nothing and not the number) if
    /// anything is wrong, the vault's own refusal included.
    function place(uint256 batch, IERC4626 vault, uint256 assets) external whenNotPaused {
        _nextMove(batch);
        if (!vaultAllowed[address(vault)]) revert VaultNotAllowed(address(vault));
        if (assets == 0) revert ZeroAmount();
        uint256 balance = token.balanceOf(address(this));
        if (balance < assets) revert TreasuryShort(balance, assets);
        token.forceApprove(address(vault), assets);
        uint256 shares = vault.deposit(assets, address(this));
        token.forceApprove(address(vault), 0);
        emit Placed(batch, address(vault), assets, shares);
    }

    /// @notice Batch `batch`: redeems `shares` of a vault the treasury placed in (allowed now or
    /// not: money can always come home), the tokens to the treasury. Not stopped by a pause.
    function redeem(uint256 batch, IERC4626 vault, uint256 shares) external {
        _nextMove(batch);
        if (!_listed(address(vault))) revert UnknownVault(address(vault));
        if (shares == 0) revert ZeroAmount();
        uint256 assets = vault.redeem(shares, address(this), address(this));
        emit Redeemed(batch, address(vault), shares, assets);
    }

    function _nextMove(uint256 batch) private {
        if (msg.sender != operator) revert NotOperator();
        if (batch != nextBatch) revert WrongBatch(nextBatch, batch);
        nextBatch = batch + 1;
    }

    function _listed(address vault) private view returns (bool) {
        for (uint256 i; i < vaults.length; ++i) {
            if (vaults[i] == vault) return true;
        }
        return false;
    }

    /// @notice The owner allows a vault (an ERC-4626 over the treasury's token) or stops placing in it.
    function setVaultAllowed(IERC4626 vault, bool allowed) external onlyOwner {
        if (allowed) {
            if (vault.asset() != address(token)) revert NotThisAsset(address(vault));
            if (!_listed(address(vault))) {
                if (vaults.length >= MAX_VAULTS) revert TooManyVaults();
                vaults.push(address(vault));
            }
        }
        vaultAllowed[address(vault)] = allowed;
        emit VaultAllowed(address(vault), allowed);
    }

    /// @notice The tokens held, what the shares of every vault placed in are worth now
    /// (convertToAssets; a vault that does not answer counts nothing), and the next batch
    /// number, from one state.
    function holdings() external view returns (uint256 balance, uint256 placed, uint256 batch) {
        for (uint256 i; i < vaults.length; ++i) {
            IERC4626 vault = IERC4626(vaults[i]);
            try vault.balanceOf(address(this)) returns (uint256 shares) {
                if (shares == 0) continue;
                try vault.convertToAssets(shares) returns (uint256 assets) {
                    placed += assets;
                } catch {}
            } catch {}
        }
        return (token.balanceOf(address(this)), placed, nextBatch);
    }

    /// @notice The number of vaults ever allowed.
    function vaultCount() external view returns (uint256) {
        return vaults.length;
    }

    /// @notice The token balance held and the next batch number, read in one call so both
    /// come from one state: read in two calls, a block mined between them can show a batch's
    /// payment in one and not the other, and a reconciliation a false shortfall of one batch.
    function reserves() external view returns (uint256 balance, uint256 batch) {
        return (token.balanceOf(address(this)), nextBatch);
    }

    /// @notice The owner or the guardian stops deposits and payouts at once.
    function pause() external {
        if (msg.sender != owner && msg.sender != guardian) revert NotOwnerOrGuardian();
        paused = true;
        emit Paused(msg.sender);
    }

    function setGuardian(address newGuardian) external onlyOwner {
        emit GuardianChanged(guardian, newGuardian);
        guardian = newGuardian;
    }

    /// @notice A lower cap applies at once; a higher one only after CAP_RAISE_DELAY
    /// (`applyPayoutCap`), so a stolen owner key cannot lift the cap in the same breath.
    function setPayoutCap(uint256 newCap) external onlyOwner {
        if (newCap <= payoutCap) {
            emit PayoutCapChanged(payoutCap, newCap);
            payoutCap = newCap;
            pendingCap = 0;
            pendingCapAt = 0;
        } else {
            pendingCap = newCap;
            pendingCapAt = block.timestamp + CAP_RAISE_DELAY;
            emit PayoutCapProposed(newCap, pendingCapAt);
        }
    }

    function applyPayoutCap() external onlyOwner {
        if (pendingCapAt == 0 || block.timestamp < pendingCapAt) revert CapRaiseNotDue(pendingCapAt);
        emit PayoutCapChanged(payoutCap, pendingCap);
        payoutCap = pendingCap;
        pendingCap = 0;
        pendingCapAt = 0;
    }

    function unpause() external onlyOwner {
        paused = false;
        emit Unpaused(msg.sender);
    }

    function setOperator(address newOperator) external onlyOwner {
        if (newOperator == address(0)) revert ZeroAddress();
        emit OperatorChanged(operator, newOperator);
        operator = newOperator;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}

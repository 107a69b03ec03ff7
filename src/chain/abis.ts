import { parseAbi } from 'viem';

// The contracts' interfaces the platform calls: the treasury (contracts/Treasury.sol, checked
// against its compiled ABI by a test), ERC-4626 vaults and ERC-20 tokens.

/** The treasury contract's interface (contracts/Treasury.sol); a test checks it against the compiled ABI. */
export const treasuryAbi = parseAbi([
  'function token() view returns (address)',
  'function owner() view returns (address)',
  'function operator() view returns (address)',
  'function paused() view returns (bool)',
  'function nextBatch() view returns (uint256)',
  'function guardian() view returns (address)',
  'function payoutCap() view returns (uint256)',
  'function periodStart() view returns (uint256)',
  'function paidInPeriod() view returns (uint256)',
  'function pendingCap() view returns (uint256)',
  'function pendingCapAt() view returns (uint256)',
  'function CAP_PERIOD() view returns (uint256)',
  'function CAP_RAISE_DELAY() view returns (uint256)',
  'function TRANSFER_GAS() view returns (uint256)',
  'function setGuardian(address newGuardian)',
  'function setPayoutCap(uint256 newCap)',
  'function applyPayoutCap()',
  'function reserves() view returns (uint256 balance, uint256 batch)',
  'function holdings() view returns (uint256 balance, uint256 placed, uint256 batch)',
  'function vaultAllowed(address vault) view returns (bool)',
  'function vaults(uint256 index) view returns (address)',
  'function vaultCount() view returns (uint256)',
  'function MAX_VAULTS() view returns (uint256)',
  'function setVaultAllowed(address vault, bool allowed)',
  'function place(uint256 batch, address vault, uint256 assets)',
  'function redeem(uint256 batch, address vault, uint256 shares)',
  'event VaultAllowed(address indexed vault, bool allowed)',
  'event Placed(uint256 indexed batch, address indexed vault, uint256 assets, uint256 shares)',
  'event Redeemed(uint256 indexed batch, address indexed vault, uint256 shares, uint256 assets)',
  'error NotThisAsset(address vault)',
  'error VaultNotAllowed(address vault)',
  'error UnknownVault(address vault)',
  'error TooManyVaults()',
  'function deposit(uint256 amount, address beneficiary)',
  'function depositWithPermit(uint256 amount, address beneficiary, uint256 deadline, uint8 v, bytes32 r, bytes32 s)',
  'function pay(uint256 batch, address[] recipients, uint256[] amounts)',
  'function pause()',
  'function unpause()',
  'function setOperator(address newOperator)',
  'function transferOwnership(address newOwner)',
  'event Deposited(address indexed beneficiary, address indexed from, uint256 amount)',
  'event Paid(uint256 indexed batch, address indexed recipient, uint256 amount)',
  'event BatchPaid(uint256 indexed batch, uint256 count, uint256 total)',
  'event PayFailed(uint256 indexed batch, uint256 index, address indexed recipient, uint256 amount, bytes reason)',
  'event OperatorChanged(address indexed previousOperator, address indexed newOperator)',
  'event OwnershipTransferred(address indexed previousOwner, address indexed newOwner)',
  'event Paused(address indexed by)',
  'event Unpaused(address indexed by)',
  'event GuardianChanged(address indexed previousGuardian, address indexed newGuardian)',
  'event PayoutCapProposed(uint256 cap, uint256 effectiveAt)',
  'event PayoutCapChanged(uint256 previousCap, uint256 newCap)',
  'error NotOwner()',
  'error NotOperator()',
  'error IsPaused()',
  'error WrongBatch(uint256 expected, uint256 given)',
  'error LengthMismatch()',
  'error TreasuryShort(uint256 balance, uint256 needed)',
  'error ZeroAmount()',
  'error ZeroAddress()',
  'error NotOwnerOrGuardian()',
  'error CapExceeded(uint256 available, uint256 needed)',
  'error CapRaiseNotDue(uint256 effectiveAt)',
  'error GasTooLow(uint256 left, uint256 needed)',
  'error SafeERC20FailedOperation(address token)',
]);

/**
 * What a vault refuses a place or redeem with (OpenZeppelin's ERC-4626, Pausable, ERC-20),
 * bubbled up through the treasury: the treasury's calls are simulated and their reverts read with
 * these too, so a refusal reads by name.
 */
export const vaultErrorsAbi = parseAbi([
  'error EnforcedPause()',
  'error ERC4626ExceededMaxDeposit(address receiver, uint256 assets, uint256 max)',
  'error ERC4626ExceededMaxRedeem(address owner, uint256 shares, uint256 max)',
  'error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)',
]);

/** What the platform reads of an ERC-4626 vault (and sends it, through the treasury). */
export const erc4626Abi = parseAbi([
  'function asset() view returns (address)',
  'function decimals() view returns (uint8)',
  'function totalAssets() view returns (uint256)',
  'function convertToAssets(uint256 shares) view returns (uint256)',
  'function convertToShares(uint256 assets) view returns (uint256)',
  'function maxRedeem(address owner) view returns (uint256)',
  'function previewWithdraw(uint256 assets) view returns (uint256)',
  'function balanceOf(address) view returns (uint256)',
]);

export const erc20Abi = parseAbi([
  'function decimals() view returns (uint8)',
  'function symbol() view returns (string)',
  'function balanceOf(address) view returns (uint256)',
  'function approve(address spender, uint256 amount) returns (bool)',
  'function transfer(address to, uint256 amount) returns (bool)',
  'function nonces(address owner) view returns (uint256)',
  'function name() view returns (string)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
]);

/** EIP-2612 permit types, as OpenZeppelin's ERC20Permit verifies them (the dashboard, the chain tools and the SDK sign them). */
export const permitTypes = {
  Permit: [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

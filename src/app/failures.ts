/** How the transports tell driver failures apart, without reaching into db/ (classified there). */
export { isWaitTimeout } from '../db/classify-error.ts';

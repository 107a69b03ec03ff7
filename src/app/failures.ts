/** How the transports tell driver failures apart, without reaching into db/ (classified there). */
export { CommitUnknownError, isConnectionLoss, isWaitTimeout } from '../db/classify-error.ts';

/** Webhooks (issue 59): an account's endpoints and the deliveries made to them. db/webhook-store.ts persists them. */

/** The events an endpoint subscribes to, and TEST: a delivery its owner asked for (testWebhook), never subscribed to. */
export type WebhookEvent = 'PAYOUT' | 'INCIDENT' | 'WITHDRAWAL_READY' | 'RISK_STATE' | 'TEST';

export interface WebhookEndpointRecord {
  id: string;
  owner: string;
  url: string;
  secret: string;
  events: WebhookEvent[];
  createdAt: number;
  /** Since when its attempts fail (null: its last attempt was delivered, or none yet). */
  failingSince?: number | null;
  /** Disabled after failing for a day: nothing is sent to it until its owner tests it again. */
  disabledAt?: number | null;
  disabledReason?: string | null;
}

export interface WebhookDeliveryRecord {
  id: string;
  endpointId: string;
  eventId: string;
  event: WebhookEvent;
  payload: Record<string, unknown>;
  status: 'PENDING' | 'DELIVERED' | 'FAILED';
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  createdAt: number;
}

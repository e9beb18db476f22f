// Types for shop.mjs (a plain-JS module so the demo runs without a build step; TypeScript tests import it).

export type ShopService = 'frontend' | 'payments' | 'notifier' | 'accounts' | 'search';
export type ShopTransport = 'http/protobuf' | 'http/json' | 'grpc';

export declare const DEFAULT_VERSIONS: Readonly<Record<ShopService, string>>;
export declare const DEFAULT_REGION: string;

export interface ShopOptions {
  /** `http`: OTLP/HTTP base URL (`/v1/traces` is appended), e.g. http://127.0.0.1:4318; `grpc`: e.g. http://127.0.0.1:4317. */
  endpoints: { http?: string; grpc?: string };
  /** Transport of every service without an entry in `transports`. Default `http/protobuf`. */
  transport?: ShopTransport;
  transports?: Partial<Record<ShopService, ShopTransport>>;
  /** `service.version` per service (defaults: DEFAULT_VERSIONS); calls may override it per request. */
  versions?: Partial<Record<ShopService, string>>;
  /** `cloud.region` of every service unless a call says otherwise. Default DEFAULT_REGION. */
  region?: string;
  /** BatchSpanProcessor delay: how often spans are exported on their own. Default 200; tests use a long one and `flush()`. */
  scheduledDelayMillis?: number;
  /** BatchSpanProcessor queue per provider (spans beyond it are dropped by the SDK). Default 65536. */
  maxQueueSize?: number;
}

/** One span the shop made. `spanId` is hex, as the SDK gives it. */
export interface ShopSpan {
  service: ShopService;
  name: string;
  spanId: string;
}

/** One request: its trace, its root (start) span and every span made for it. */
export interface ShopRequest {
  traceId: string;
  startSpanId: string;
  spans: ShopSpan[];
}

export interface RequestOptions {
  /** Start time, ms since the epoch. Default: so that the request ends now. */
  at?: number;
  /** Duration of the root span in ms. */
  durationMs?: number;
  /** `cloud.region` of every service of this request. */
  region?: string;
  frontendVersion?: string;
  /** `http.response.status_code` of the root span. */
  status?: number;
  /** Extra attributes of the root (start) span, e.g. `{ 'device.type': 'mobile' }`; set after the built-in ones. */
  attributes?: Record<string, string | number | boolean>;
}

export interface CheckoutOptions extends RequestOptions {
  /** `customer.tier` on the start span; null or absent = none (a guest). */
  tier?: string | null;
  paymentsVersion?: string;
  notifierVersion?: string;
  /** Every `charge card` span ends with status ERROR (and the default status becomes 502). */
  chargeFails?: boolean;
  /** How many times payments' `charge card` is called: 0 = never (a bug), 2 = a duplicate charge. Default 1. */
  charges?: number;
  /** The confirmation: `send email`, `send sms`, or none. Default email, none when the charge fails. */
  confirm?: 'email' | 'sms' | null;
  /** The confirmation span ends with status ERROR (the notifier failed; the order itself went through). */
  confirmFails?: boolean;
}

export interface SignupOptions extends RequestOptions {
  /** `signup.source` (web, ios, android, partner). */
  source?: string;
  accountsVersion?: string;
  notifierVersion?: string;
  createFails?: boolean;
  /** How many times `create account` runs. Default 1. */
  creates?: number;
  /** Send the welcome email. Default: unless the creation failed. */
  welcome?: boolean;
}

export interface SearchOptions extends RequestOptions {
  tier?: string | null;
  searchVersion?: string;
  /** `query products` calls. Default 1. */
  queries?: number;
  /** Call `suggest terms`. Default true. */
  suggest?: boolean;
  suggestFails?: boolean;
}

export interface BrowseOptions extends RequestOptions {
  searchVersion?: string;
}

export interface Shop {
  /** Spans made so far (the SDK sends them on its own schedule or at `flush()`). */
  readonly spansCreated: number;
  checkout(options?: CheckoutOptions): ShopRequest;
  signup(options?: SignupOptions): ShopRequest;
  search(options?: SearchOptions): ShopRequest;
  /** A request no journey names: frontend `GET /api/products` → search `list products`. */
  browse(options?: BrowseOptions): ShopRequest;
  /**
   * Exports every pending span, service by service: the services named in `order` first, in that order, then the
   * rest. Each service's export completes before the next starts, so this is the order of arrival at Pulse.
   */
  flush(order?: ShopService[]): Promise<void>;
  /** Flushes and shuts every provider and exporter down. */
  shutdown(): Promise<void>;
}

export declare function createShop(options: ShopOptions): Shop;

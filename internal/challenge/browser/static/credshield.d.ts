// Types for credshield.js (served next to it as credshield.d.ts).

/** The "challenge" member of a challenge_required answer. */
export interface Challenge {
  token: string;
  algorithm: "argon2id";
  memory_kib: number;
  time: number;
  threads: number;
  difficulty: number;
  /** Unix seconds. */
  expires_at: number;
}

/** The detail of "progress" and "solved" events. */
export interface SolveProgress {
  /** argon2id evaluations so far, over all workers. */
  evaluations: number;
  /** 2^difficulty: the average number of evaluations a solution takes. */
  expected: number;
  difficulty: number;
  /** Milliseconds since solving started. */
  elapsed: number;
}

export interface CredshieldOptions {
  /** The login endpoint; default "/token", relative to the page. */
  tokenURL?: string | URL;
  /** Web Workers solving at once; default one per core, at most 4. */
  workers?: number;
  /** Challenges solved for one login before giving up; default 3. */
  maxChallenges?: number;
  /** fetch credentials; default "same-origin" ("include" for a cross-origin endpoint). */
  credentials?: RequestCredentials;
}

export interface CredshieldEventMap {
  progress: CustomEvent<SolveProgress>;
  solved: CustomEvent<SolveProgress>;
}

/** Thrown when the endpoint keeps asking for a challenge or the solver fails. */
export class ChallengeError extends Error {}

export class Credshield extends EventTarget {
  constructor(options?: CredshieldOptions);
  readonly tokenURL: string;
  readonly workers: number;
  readonly maxChallenges: number;
  readonly credentials: RequestCredentials;
  /** POST fields as a form to tokenURL, solving any challenge; resolves to the final answer. */
  login(fields: Record<string, string> | URLSearchParams, init?: { signal?: AbortSignal; headers?: HeadersInit }): Promise<Response>;
  /** window.fetch that solves an answer carrying a challenge (challenge_required, in the shape of the service behind the endpoint) and retries; the body must be a string or URLSearchParams. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Solve one challenge; resolves to the value of challenge_solution. */
  solve(challenge: Pick<Challenge, "token" | "difficulty">, options?: { signal?: AbortSignal }): Promise<string>;
  addEventListener<K extends keyof CredshieldEventMap>(type: K, listener: (ev: CredshieldEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof CredshieldEventMap>(type: K, listener: (ev: CredshieldEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

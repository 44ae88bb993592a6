/**
 * Controller expectations (client-go's `ControllerExpectations`): after a controller creates or deletes pods, its
 * informer cache lags behind the API server, so the next reconcile could count the same pods twice and overshoot.
 * The controller records the pods it created and deleted and only scales again once its cache shows them all (or
 * after a timeout, in case an event was lost). Mutable, owned by one controller.
 */

import * as Pod from "../api/Pod.ts"

/** How long expectations may stay unmet before a controller acts anyway (upstream `ExpectationsTimeout`). */
export const DefaultTimeoutMillis = 5 * 60 * 1000

interface Pending {
  /** Pod keys created and not yet seen in the cache. */
  readonly creations: Set<string>
  /** Pod keys deleted and still seen active in the cache. */
  readonly deletions: Set<string>
  /** When the expectations were last raised. */
  since: number
}

/** The state of an owner's expectations. */
export type Check =
  | { readonly satisfied: true }
  | { readonly satisfied: false /** When to look again even without events. */; readonly recheckAfterMillis: number }

/** Pods an owner expects its cache to show created or deleted. */
export class Expectations {
  private readonly pending = new Map<string, Pending>()

  constructor(private readonly timeoutMillis: number = DefaultTimeoutMillis) {}

  private entry(owner: string, now: number): Pending {
    let entry = this.pending.get(owner)
    if (entry === undefined) {
      entry = { creations: new Set(), deletions: new Set(), since: now }
      this.pending.set(owner, entry)
    }
    entry.since = now
    return entry
  }

  /** Records that `owner` created the pod `podKey`. */
  expectCreation(owner: string, podKey: string, now: number): void {
    this.entry(owner, now).creations.add(podKey)
  }

  /** Records that `owner` deleted the pod `podKey`. */
  expectDeletion(owner: string, podKey: string, now: number): void {
    this.entry(owner, now).deletions.add(podKey)
  }

  /** Whether `owner` waits for creations or deletions to show (then {@link check} looks pods up). */
  isPending(owner: string): boolean {
    return this.pending.has(owner)
  }

  /**
   * Drops what the cache (`lookup`) already shows; satisfied when nothing is left, or when the rest is older than
   * the timeout (then it is forgotten).
   */
  check(owner: string, lookup: (podKey: string) => Pod.Pod | undefined, now: number): Check {
    const entry = this.pending.get(owner)
    if (entry === undefined) return { satisfied: true }
    for (const key of [...entry.creations]) if (lookup(key) !== undefined) entry.creations.delete(key)
    for (const key of [...entry.deletions]) {
      const pod = lookup(key)
      if (pod === undefined || !Pod.isActive(pod)) entry.deletions.delete(key)
    }
    if (entry.creations.size === 0 && entry.deletions.size === 0) {
      this.pending.delete(owner)
      return { satisfied: true }
    }
    const expires = entry.since + this.timeoutMillis
    if (now >= expires) {
      this.pending.delete(owner)
      return { satisfied: true }
    }
    return { satisfied: false, recheckAfterMillis: expires - now }
  }

  /** Forgets the owner (it is gone). */
  forget(owner: string): void {
    this.pending.delete(owner)
  }
}

/**
 * The KubeClient service: typed reads and writes over resource descriptors. Implementations: `layers/kube/memory`
 * (an in-memory API server with the real semantics) and `layers/kube/live` (a real cluster).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type * as KubeError from "./KubeError.ts"
import type { KubeObject, Resource } from "./Resource.ts"

/** Which objects a list or watch covers. Selectors use the Kubernetes string syntax. */
export interface Selection {
  /** Omit for every namespace (or for cluster-scoped kinds). */
  readonly namespace?: string
  readonly labelSelector?: string
  readonly fieldSelector?: string
}

/** Options of a list call. */
export interface ListOptions extends Selection {
  readonly limit?: number
  readonly continue?: string
}

/** One page of a list. */
export interface ListResult<A> {
  readonly items: ReadonlyArray<A>
  /** The collection's resourceVersion: watch from here to see every later change. */
  readonly resourceVersion: string
  /** Set when more pages follow. */
  readonly continue?: string
}

/** Options of a watch. */
export interface WatchOptions extends Selection {
  /** Start after this version; omitted means "now" (no replay). */
  readonly resourceVersion?: string
  /** Ask for BOOKMARK events that advance the resourceVersion without changes. */
  readonly allowBookmarks?: boolean
}

/** A change seen by a watch. */
export type WatchEvent<A> =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: A }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string }

/** One RFC 6902 operation. */
export type JsonPatchOperation =
  | { readonly op: "add" | "replace" | "test"; readonly path: string; readonly value: unknown }
  | { readonly op: "remove"; readonly path: string }
  | { readonly op: "move" | "copy"; readonly from: string; readonly path: string }

/** A patch: RFC 7386 merge patch or RFC 6902 JSON patch. */
export type Patch =
  | { readonly type: "merge"; readonly patch: unknown }
  | { readonly type: "json"; readonly patch: ReadonlyArray<JsonPatchOperation> }

/** Where a write goes. */
export interface WriteOptions {
  readonly namespace?: string
  /** Write the status subresource instead of the main resource. */
  readonly subresource?: "status"
}

/** Options of a delete. */
export interface DeleteOptions {
  readonly namespace?: string
  readonly gracePeriodSeconds?: number
  /** Fail with Conflict unless the object still has this uid / resourceVersion. */
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string }
  readonly propagationPolicy?: "Background" | "Foreground" | "Orphan"
}

/** The KubeClient contract. Objects in are wire form (`I`); objects out are decoded (`A`). */
export class KubeClient extends Context.Service<
  KubeClient,
  {
    get<A extends KubeObject, I>(
      resource: Resource<A, I>,
      name: string,
      options?: { readonly namespace?: string }
    ): Effect.Effect<A, KubeError.NotFound | KubeError.KubeUnavailable>
    list<A extends KubeObject, I>(
      resource: Resource<A, I>,
      options?: ListOptions
    ): Effect.Effect<ListResult<A>, KubeError.Invalid | KubeError.Expired | KubeError.KubeUnavailable>
    /** Changes from `resourceVersion` on; fails with Expired when that version is too old. */
    watch<A extends KubeObject, I>(
      resource: Resource<A, I>,
      options?: WatchOptions
    ): Stream.Stream<WatchEvent<A>, KubeError.Invalid | KubeError.Expired | KubeError.KubeUnavailable>
    create<A extends KubeObject, I>(
      resource: Resource<A, I>,
      object: I,
      options?: { readonly namespace?: string }
    ): Effect.Effect<A, KubeError.AlreadyExists | KubeError.Invalid | KubeError.NotFound | KubeError.KubeUnavailable>
    /** PUT: `object` must carry the resourceVersion it was read at. Never send a decoded object (fields were dropped). */
    replace<A extends KubeObject, I>(
      resource: Resource<A, I>,
      object: I,
      options?: WriteOptions
    ): Effect.Effect<A, KubeError.NotFound | KubeError.Conflict | KubeError.Invalid | KubeError.KubeUnavailable>
    patch<A extends KubeObject, I>(
      resource: Resource<A, I>,
      name: string,
      patch: Patch,
      options?: WriteOptions
    ): Effect.Effect<A, KubeError.NotFound | KubeError.Conflict | KubeError.Invalid | KubeError.KubeUnavailable>
    /** Starts deletion; the object may live on while finalizers or a grace period remain. */
    delete<A extends KubeObject, I>(
      resource: Resource<A, I>,
      name: string,
      options?: DeleteOptions
    ): Effect.Effect<void, KubeError.NotFound | KubeError.Conflict | KubeError.KubeUnavailable>
    /** The eviction subresource: fails with TooManyRequests when a PodDisruptionBudget forbids it now. */
    evict(
      namespace: string,
      name: string,
      options?: { readonly gracePeriodSeconds?: number }
    ): Effect.Effect<
      void,
      KubeError.NotFound | KubeError.TooManyRequests | KubeError.Conflict | KubeError.KubeUnavailable
    >
    /** The binding subresource: assigns a pending pod to a node. */
    bind(
      namespace: string,
      name: string,
      nodeName: string
    ): Effect.Effect<void, KubeError.NotFound | KubeError.Conflict | KubeError.KubeUnavailable>
  }
>()("karpenter-effect/kube/KubeClient") {}

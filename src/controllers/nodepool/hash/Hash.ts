/**
 * The `nodepool.hash` controller and the NodePool hash it writes (`karpenter.sh/nodepool-hash`, version `v3`), which
 * new NodeClaims copy and static drift compares.
 *
 * {@link hashOf} reproduces upstream's `NodePool.Hash()` bit for bit: `hashstructure.Hash(spec.template, FormatV2,
 * {SlicesAsSets, IgnoreZeroValue, ZeroNil})` over Karpenter's Go types, with FNV-1 (64-bit). Matching upstream's
 * numbers (not just its rules) means NodeClaims launched by upstream Karpenter are not all seen as drifted when this
 * controller takes over their NodePools.
 */
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import type { NodePool } from "../../../api/NodePool.ts"
import type { TaintLike } from "../../../api/Taints.ts"
import { CloudProvider } from "../../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import type * as Informer from "../../../runtime/Informer.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as NodeClasses from "../nodeclass/NodeClasses.ts"

// -- hashstructure v2 ---------------------------------------------------------------------------------------------

// FNV-1 (not 1a: hashstructure uses Go's fnv.New64) on four 16-bit limbs, low first; the prime is 2^40 + 0x1b3.
const fnv1 = (bytes: Uint8Array): bigint => {
  let h0 = 0x2325
  let h1 = 0x8422
  let h2 = 0x9ce4
  let h3 = 0xcbf2
  for (let i = 0; i < bytes.length; i++) {
    let t0 = h0 * 0x1b3
    let t1 = h1 * 0x1b3
    let t2 = h2 * 0x1b3 + h0 * 0x100
    let t3 = h3 * 0x1b3 + h1 * 0x100
    t1 += t0 >>> 16
    t0 &= 0xffff
    t2 += t1 >>> 16
    t1 &= 0xffff
    t3 = (t3 + (t2 >>> 16)) & 0xffff
    t2 &= 0xffff
    h0 = t0 ^ bytes[i]!
    h1 = t1
    h2 = t2
    h3 = t3
  }
  return (BigInt(h3) << 48n) | (BigInt(h2) << 32n) | (BigInt(h1) << 16n) | BigInt(h0)
}

const encoder = new TextEncoder()

const putUint64LE = (target: Uint8Array, offset: number, value: bigint): void => {
  let rest = BigInt.asUintN(64, value)
  for (let i = 0; i < 8; i++) {
    target[offset + i] = Number(rest & 0xffn)
    rest >>= 8n
  }
}

/** hashstructure v2's hash of a Go string: FNV-1 (64-bit) of its UTF-8 bytes. */
export const ofString = (text: string): bigint => fnv1(encoder.encode(text))

const ofInt64 = (value: bigint): bigint => {
  const bytes = new Uint8Array(8)
  putUint64LE(bytes, 0, value)
  return fnv1(bytes)
}

// hashstructure's hashUpdateOrdered: both hashes little-endian through the hasher.
const ordered = (a: bigint, b: bigint): bigint => {
  const bytes = new Uint8Array(16)
  putUint64LE(bytes, 0, a)
  putUint64LE(bytes, 8, b)
  return fnv1(bytes)
}

// hashstructure's hashFinishUnordered (FormatV2): rehashes an XOR of hashes so overlapping groups cannot cancel out.
const finish = (a: bigint): bigint => ofInt64(a)

/** A struct field: its Go name and the hash of its value, `undefined` for a zero value (IgnoreZeroValue skips it). */
type Field = readonly [name: string, hash: bigint | undefined]

// The type name, then per non-zero field in declaration order: XOR in hash(name, value), then finish.
const struct = (typeName: string, fields: ReadonlyArray<Field>): bigint => {
  let h = ofString(typeName)
  for (const [name, value] of fields) {
    if (value === undefined) continue
    h = finish(h ^ ordered(ofString(name), value))
  }
  return h
}

// A nil map is zero (skipped by the caller); an empty one still hashes, to finish(0).
const stringMap = (map: Readonly<Record<string, string>>): bigint => {
  let h = 0n
  for (const key of Object.keys(map)) h ^= ordered(ofString(key), ofString(map[key]!))
  return finish(h)
}

// SlicesAsSets: an XOR without finish (only the `set` tag finishes), so a duplicated element cancels out, as upstream.
const sliceAsSet = (hashes: ReadonlyArray<bigint>): bigint => hashes.reduce((h, element) => h ^ element, 0n)

const nonEmpty = (text: string | undefined): bigint | undefined =>
  text === undefined || text === "" ? undefined : ofString(text)

const unitNanos: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n
}

/** Nanoseconds of a Go duration string (`time.ParseDuration`, truncating fractions as Go does); undefined if malformed. */
const durationNanos = (text: string): bigint | undefined => {
  if (text === "0") return 0n
  const group = /([0-9]*)(?:\.([0-9]*))?(ns|us|µs|ms|s|m|h)/y
  let total = 0n
  let consumed = 0
  for (let match = group.exec(text); match !== null; match = group.exec(text)) {
    const whole = match[1] ?? ""
    const fraction = match[2] ?? ""
    if (whole === "" && fraction === "") return undefined
    const unit = unitNanos[match[3]!]!
    total += BigInt(whole === "" ? "0" : whole) * unit
    if (fraction !== "") total += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length)
    consumed = group.lastIndex
  }
  return consumed === text.length && consumed > 0 ? total : undefined
}

const unixToGoSeconds = 62_135_596_800n

/**
 * `time.Time.MarshalBinary` of a `metav1.Time` (decoded with `.Local()`, a zone at offset 0 in Karpenter's UTC
 * container): version 1, seconds since year 1 and nanoseconds big-endian, offset 0 minutes.
 */
const timeBinary = (text: string): bigint | undefined => {
  const millis = Date.parse(text)
  if (Number.isNaN(millis)) return undefined
  const seconds = BigInt(Math.floor(millis / 1000)) + unixToGoSeconds
  const fraction = /\.([0-9]+)/.exec(text)?.[1] ?? ""
  const nanos = fraction === "" ? 0 : Number(fraction.slice(0, 9).padEnd(9, "0"))
  const bytes = new Uint8Array(15)
  bytes[0] = 1
  let rest = BigInt.asUintN(64, seconds)
  for (let i = 8; i >= 1; i--) {
    bytes[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  bytes[9] = (nanos >>> 24) & 0xff
  bytes[10] = (nanos >>> 16) & 0xff
  bytes[11] = (nanos >>> 8) & 0xff
  bytes[12] = nanos & 0xff
  return fnv1(bytes)
}

const taintHash = (taint: TaintLike & { readonly timeAdded?: string | undefined }): bigint => {
  const timeAdded = taint.timeAdded === undefined ? undefined : timeBinary(taint.timeAdded)
  return struct("Taint", [
    ["Key", nonEmpty(taint.key)],
    ["Value", nonEmpty(taint.value)],
    ["Effect", nonEmpty(taint.effect)],
    ["TimeAdded", timeAdded === undefined ? undefined : struct("Time", [["Time", timeAdded]])]
  ])
}

const taintsHash = (
  taints: ReadonlyArray<TaintLike & { readonly timeAdded?: string | undefined }> | undefined
): bigint | undefined => (taints === undefined ? undefined : sliceAsSet(taints.map(taintHash)))

// *metav1.Duration: a set pointer is hashed even at 0s (its struct then has no non-zero field).
const metav1DurationHash = (text: string | undefined): bigint | undefined => {
  if (text === undefined) return undefined
  const nanos = durationNanos(text) ?? 0n
  return struct("Duration", [["Duration", nanos === 0n ? undefined : ofInt64(nanos)]])
}

// NillableDuration: "Never" leaves both the *time.Duration and Raw nil, a zero struct that is skipped.
const nillableDurationHash = (text: string): bigint | undefined => {
  if (text === "Never") return undefined
  const nanos = durationNanos(text)
  return nanos === undefined ? undefined : struct("NillableDuration", [["Duration", ofInt64(nanos)]])
}

/**
 * The NodePool's template hash as upstream's `NodePool.Hash()` computes it (a decimal uint64). Covers template
 * labels, annotations, taints and startupTaints (order-insensitive), nodeClassRef, terminationGracePeriod and
 * expireAfter; not requirements, and nothing outside the template (disruption, limits, weight). Zero values are
 * skipped, so a newly added field left unset does not change it.
 */
export const hashOf = (nodePool: NodePool): string => {
  let hash = hashes.get(nodePool)
  if (hash === undefined) {
    hash = computeHash(nodePool)
    hashes.set(nodePool, hash)
  }
  return hash
}

// Every NodeClaim's drift check hashes its NodePool, and a cached NodePool object never changes: hash it once.
const hashes = new WeakMap<NodePool, string>()

const computeHash = (nodePool: NodePool): string => {
  const template = nodePool.spec.template
  const spec = template.spec
  const labels = template.metadata?.labels
  const annotations = template.metadata?.annotations
  const objectMeta =
    labels === undefined && annotations === undefined
      ? undefined
      : struct("ObjectMeta", [
          ["Labels", labels === undefined ? undefined : stringMap(labels)],
          ["Annotations", annotations === undefined ? undefined : stringMap(annotations)]
        ])
  const ref = spec.nodeClassRef
  const specHash = struct("NodeClaimTemplateSpec", [
    ["Taints", taintsHash(spec.taints)],
    ["StartupTaints", taintsHash(spec.startupTaints)],
    [
      "NodeClassRef",
      struct("NodeClassReference", [
        ["Kind", nonEmpty(ref.kind)],
        ["Name", nonEmpty(ref.name)],
        ["Group", nonEmpty(ref.group)]
      ])
    ],
    ["TerminationGracePeriod", metav1DurationHash(spec.terminationGracePeriod)],
    ["ExpireAfter", nillableDurationHash(spec.expireAfter)]
  ])
  return struct("NodeClaimTemplate", [
    ["ObjectMeta", objectMeta],
    ["Spec", specHash]
  ]).toString()
}

// -- the controller -----------------------------------------------------------------------------------------------

/** The names of a hash annotation pair, or the values written to them. */
export interface HashAnnotations {
  readonly hash: string
  readonly version: string
}

/**
 * Brings NodeClaims whose hash version is not current to it (upstream `updateNodeClaimHash`, for the NodePool hash and
 * the AWS EC2NodeClass hash alike): the version becomes current, and the hash too unless the NodeClaim has a Drifted
 * condition (a hash of another version cannot tell whether it is still drifted, so it stays drifted).
 */
export const migrateNodeClaimHashes = Effect.fn("NodePoolHash.migrateNodeClaimHashes")(function* (
  nodeClaims: ReadonlyArray<NodeClaim>,
  keys: HashAnnotations,
  current: HashAnnotations
) {
  const kube = yield* KubeClient
  const stale = nodeClaims.filter((nodeClaim) => nodeClaim.metadata.annotations?.[keys.version] !== current.version)
  yield* Effect.forEach(
    stale,
    (nodeClaim) => {
      const drifted = Conditions.get(nodeClaim.status?.conditions, ConditionTypes.Drifted) !== undefined
      const annotations: Record<string, string> = {
        [keys.version]: current.version,
        ...(drifted ? {} : { [keys.hash]: current.hash })
      }
      return kube
        .patch(Resources.NodeClaims, nodeClaim.metadata.name ?? "", {
          type: "merge",
          patch: { metadata: { annotations } }
        })
        .pipe(Effect.catchTag("NotFound", () => Effect.void))
    },
    { discard: true }
  )
})

const nodePoolHashKeys: HashAnnotations = {
  hash: Labels.NodePoolHashAnnotation,
  version: Labels.NodePoolHashVersionAnnotation
}

/** {@link migrateNodeClaimHashes} on the NodeClaims of a NodePool that the provider manages. */
const migrateNodeClaims = Effect.fn("NodePoolHash.migrateNodeClaims")(function* (
  nodeClaims: Informer.Informer<NodeClaim>,
  nodePool: NodePool,
  hash: string
) {
  const cloudProvider = yield* CloudProvider
  // From the cache, as upstream's cached client lists them (which waits for the cache to fill).
  yield* nodeClaims.synced
  const items = yield* nodeClaims.byIndex(Indices.nodePool, nodePool.metadata.name)
  yield* migrateNodeClaimHashes(
    items.filter((nodeClaim: NodeClaim) => NodeClasses.supports(cloudProvider, nodeClaim.spec.nodeClassRef)),
    nodePoolHashKeys,
    { hash, version: Labels.NodePoolHashVersion }
  )
})

/** Starts `nodepool.hash`: keeps the hash annotations of every managed NodePool current. */
export const make = Effect.fn("NodePoolHash.make")(function* () {
  const kube = yield* KubeClient
  const cloudProvider = yield* CloudProvider
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  return yield* Controller.make({
    name: "nodepool.hash",
    for: Resources.NodePools,
    concurrency: 10,
    reconcile: (_key, nodePool) =>
      Effect.gen(function* () {
        if (nodePool === undefined || !NodeClasses.isManaged(nodePool, cloudProvider)) return Result.done
        const annotations = nodePool.metadata.annotations ?? {}
        const hash = hashOf(nodePool)
        const version = annotations[Labels.NodePoolHashVersionAnnotation]
        if (version !== Labels.NodePoolHashVersion) yield* migrateNodeClaims(nodeClaims, nodePool, hash)
        if (version === Labels.NodePoolHashVersion && annotations[Labels.NodePoolHashAnnotation] === hash) {
          return Result.done
        }
        // Annotations merge key by key: no lock needed, and other writers' annotations are untouched.
        return yield* NodeClasses.settleWrite(
          kube.patch(Resources.NodePools, nodePool.metadata.name ?? "", {
            type: "merge",
            patch: {
              metadata: {
                annotations: {
                  [Labels.NodePoolHashAnnotation]: hash,
                  [Labels.NodePoolHashVersionAnnotation]: Labels.NodePoolHashVersion
                }
              }
            }
          })
        )
      }).pipe(Effect.provideService(CloudProvider, cloudProvider), Effect.provideService(KubeClient, kube))
  })
})

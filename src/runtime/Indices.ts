/**
 * The secondary indices of the informers' caches: the lookups controllers make by something other than the key
 * (upstream registers the same fields with controller-runtime's field indexer in `pkg/operator/operator.go`, and
 * client-go's controller indexer keys objects by owner). Each is declared once here, so every informer of a resource
 * shares it.
 */
import * as Labels from "../api/Labels.ts"
import * as Meta from "../api/Meta.ts"
import type { Node } from "../api/Node.ts"
import type { NodeClaim } from "../api/NodeClaim.ts"
import * as NodeClassRef from "../api/NodeClassRef.ts"
import type { NodePool } from "../api/NodePool.ts"
import type { Pod } from "../api/Pod.ts"
import type { KubeObject } from "../kube/Resource.ts"
import * as Informer from "./Informer.ts"

const noValues: ReadonlyArray<string> = []

const present = (value: string | undefined): ReadonlyArray<string> =>
  value === undefined || value === "" ? noValues : [value]

const withinNamespace = (namespace: string | undefined, uid: string): string =>
  namespace === undefined || namespace === "" ? uid : `${namespace}/${uid}`

/**
 * Objects by their controller (the owner reference with `controller: true`), within their own namespace: an owner
 * finds its dependents with {@link controlledBy}, and one in another namespace is none of its own (kube's garbage
 * collector treats a cross-namespace owner reference as absent).
 */
export const controller: Informer.Index<KubeObject> = Informer.index("controller", (object) => {
  const uid = Meta.controllerOf(object)?.uid
  return uid === undefined || uid === "" ? noValues : [withinNamespace(object.metadata.namespace, uid)]
})

/** The {@link controller} index value of the objects `owner` controls. */
export const controlledBy = (owner: KubeObject): string | undefined =>
  owner.metadata.uid === undefined ? undefined : withinNamespace(owner.metadata.namespace, owner.metadata.uid)

/** Nodes by `spec.providerID`. */
export const nodeProviderID: Informer.Index<Node> = Informer.index("spec.providerID", (node) =>
  present(node.spec.providerID)
)

/** NodeClaims by `status.providerID` (set once launched). */
export const nodeClaimProviderID: Informer.Index<NodeClaim> = Informer.index("status.providerID", (claim) =>
  present(claim.status?.providerID)
)

/** Pods by `spec.nodeName` (bound pods only). */
export const podNodeName: Informer.Index<Pod> = Informer.index("spec.nodeName", (pod) => present(pod.spec.nodeName))

/** The value {@link podUnbound} files every pod without a node under. */
export const unbound = "unbound"
const unboundValues: ReadonlyArray<string> = [unbound]

/** Pods without `spec.nodeName`, all under {@link unbound}: what a scheduler looks at, without the bound ones. */
export const podUnbound: Informer.Index<Pod> = Informer.index("unbound", (pod) =>
  pod.spec.nodeName === undefined || pod.spec.nodeName === "" ? unboundValues : noValues
)

/** Nodes and NodeClaims by their `karpenter.sh/nodepool` label. */
export const nodePool: Informer.Index<KubeObject> = Informer.index(Labels.NodePool, (object) =>
  present(object.metadata.labels?.[Labels.NodePool])
)

/** NodeClaims by their NodeClass ({@link NodeClassRef.key}). */
export const nodeClaimNodeClass: Informer.Index<NodeClaim> = Informer.index("spec.nodeClassRef", (claim) => [
  NodeClassRef.key(claim.spec.nodeClassRef)
])

/** NodePools by their template's NodeClass ({@link NodeClassRef.key}). */
export const nodePoolNodeClass: Informer.Index<NodePool> = Informer.index(
  "spec.template.spec.nodeClassRef",
  (nodePool) => [NodeClassRef.key(nodePool.spec.template.spec.nodeClassRef)]
)

/**
 * The descriptors of every kind the controllers and the embedded cluster use.
 */
import * as CapacityBuffer from "../api/CapacityBuffer.ts"
import * as ConfigMap from "../api/ConfigMap.ts"
import * as EC2NodeClass from "../api/EC2NodeClass.ts"
import * as Event from "../api/Event.ts"
import * as KWOKNodeClass from "../api/KWOKNodeClass.ts"
import * as Lease from "../api/Lease.ts"
import * as Namespace from "../api/Namespace.ts"
import * as Node from "../api/Node.ts"
import * as NodeClaim from "../api/NodeClaim.ts"
import * as NodeOverlay from "../api/NodeOverlay.ts"
import * as NodePool from "../api/NodePool.ts"
import * as Pod from "../api/Pod.ts"
import * as PodDisruptionBudget from "../api/PodDisruptionBudget.ts"
import * as Storage from "../api/Storage.ts"
import * as Workloads from "../api/Workloads.ts"
import * as Resource from "./Resource.ts"

export const NodePools = Resource.make({
  group: "karpenter.sh",
  version: "v1",
  kind: "NodePool",
  plural: "nodepools",
  namespaced: false,
  schema: NodePool.NodePool
})
export const NodeClaims = Resource.make({
  group: "karpenter.sh",
  version: "v1",
  kind: "NodeClaim",
  plural: "nodeclaims",
  namespaced: false,
  schema: NodeClaim.NodeClaim
})
export const NodeOverlays = Resource.make({
  group: "karpenter.sh",
  version: "v1alpha1",
  kind: NodeOverlay.kind,
  plural: "nodeoverlays",
  namespaced: false,
  schema: NodeOverlay.NodeOverlay
})
export const CapacityBuffers = Resource.make({
  group: CapacityBuffer.group,
  version: CapacityBuffer.version,
  kind: CapacityBuffer.kind,
  plural: "capacitybuffers",
  namespaced: true,
  schema: CapacityBuffer.CapacityBuffer
})
export const PodTemplates = Resource.make({
  group: "",
  version: "v1",
  kind: "PodTemplate",
  plural: "podtemplates",
  namespaced: true,
  schema: CapacityBuffer.PodTemplate
})
export const KWOKNodeClasses = Resource.make({
  group: KWOKNodeClass.group,
  version: "v1alpha1",
  kind: KWOKNodeClass.kind,
  plural: "kwoknodeclasses",
  namespaced: false,
  schema: KWOKNodeClass.KWOKNodeClass
})
export const EC2NodeClasses = Resource.make({
  group: EC2NodeClass.group,
  version: "v1",
  kind: EC2NodeClass.kind,
  plural: "ec2nodeclasses",
  namespaced: false,
  schema: EC2NodeClass.EC2NodeClass
})
export const Pods = Resource.make({
  group: "",
  version: "v1",
  kind: "Pod",
  plural: "pods",
  namespaced: true,
  schema: Pod.Pod
})
export const Nodes = Resource.make({
  group: "",
  version: "v1",
  kind: "Node",
  plural: "nodes",
  namespaced: false,
  schema: Node.Node
})
export const Namespaces = Resource.make({
  group: "",
  version: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
  schema: Namespace.Namespace
})
export const Events = Resource.make({
  group: "",
  version: "v1",
  kind: "Event",
  plural: "events",
  namespaced: true,
  schema: Event.Event
})
export const ConfigMaps = Resource.make({
  group: "",
  version: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  namespaced: true,
  schema: ConfigMap.ConfigMap
})
export const PersistentVolumeClaims = Resource.make({
  group: "",
  version: "v1",
  kind: "PersistentVolumeClaim",
  plural: "persistentvolumeclaims",
  namespaced: true,
  schema: Storage.PersistentVolumeClaim
})
export const PersistentVolumes = Resource.make({
  group: "",
  version: "v1",
  kind: "PersistentVolume",
  plural: "persistentvolumes",
  namespaced: false,
  schema: Storage.PersistentVolume
})
export const StorageClasses = Resource.make({
  group: "storage.k8s.io",
  version: "v1",
  kind: "StorageClass",
  plural: "storageclasses",
  namespaced: false,
  schema: Storage.StorageClass
})
export const CSINodes = Resource.make({
  group: "storage.k8s.io",
  version: "v1",
  kind: "CSINode",
  plural: "csinodes",
  namespaced: false,
  schema: Storage.CSINode
})
export const VolumeAttachments = Resource.make({
  group: "storage.k8s.io",
  version: "v1",
  kind: "VolumeAttachment",
  plural: "volumeattachments",
  namespaced: false,
  schema: Storage.VolumeAttachment
})
export const PodDisruptionBudgets = Resource.make({
  group: "policy",
  version: "v1",
  kind: "PodDisruptionBudget",
  plural: "poddisruptionbudgets",
  namespaced: true,
  schema: PodDisruptionBudget.PodDisruptionBudget
})
export const Leases = Resource.make({
  group: "coordination.k8s.io",
  version: "v1",
  kind: "Lease",
  plural: "leases",
  namespaced: true,
  schema: Lease.Lease
})
export const Deployments = Resource.make({
  group: "apps",
  version: "v1",
  kind: "Deployment",
  plural: "deployments",
  namespaced: true,
  schema: Workloads.Deployment
})
export const ReplicaSets = Resource.make({
  group: "apps",
  version: "v1",
  kind: "ReplicaSet",
  plural: "replicasets",
  namespaced: true,
  schema: Workloads.ReplicaSet
})
export const StatefulSets = Resource.make({
  group: "apps",
  version: "v1",
  kind: "StatefulSet",
  plural: "statefulsets",
  namespaced: true,
  schema: Workloads.StatefulSet
})
export const DaemonSets = Resource.make({
  group: "apps",
  version: "v1",
  kind: "DaemonSet",
  plural: "daemonsets",
  namespaced: true,
  schema: Workloads.DaemonSet
})

/** Every descriptor, for discovery and for reading manifests by kind. */
export const all: ReadonlyArray<Resource.Resource<Resource.KubeObject>> = [
  NodePools,
  NodeClaims,
  NodeOverlays,
  CapacityBuffers,
  PodTemplates,
  KWOKNodeClasses,
  EC2NodeClasses,
  Pods,
  Nodes,
  Namespaces,
  Events,
  ConfigMaps,
  PersistentVolumeClaims,
  PersistentVolumes,
  StorageClasses,
  CSINodes,
  VolumeAttachments,
  PodDisruptionBudgets,
  Leases,
  Deployments,
  ReplicaSets,
  StatefulSets,
  DaemonSets
]

/** The descriptor for an `apiVersion` and `kind`, if this project knows the kind. */
export const byKind = (apiVersion: string, kind: string): Resource.Resource<Resource.KubeObject> | undefined =>
  all.find((resource) => resource.apiVersion === apiVersion && resource.kind === kind)

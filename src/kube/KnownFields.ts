/**
 * The fields Kubernetes knows in each kind, as structural schemas: what kube-apiserver's strict decoding
 * (`fieldValidation`) compares a request body with, and what `schedule` and `simulate` hold their input to.
 *
 * The custom resources' are their CRD schemas (every field modelled). The built-in kinds' are written here: for each
 * structure this project decodes (pod spec, container, ...) every field the Kubernetes 1.32 API defines, whether or
 * not the schemas in src/api model it, so a real field such as `securityContext` is never taken for a typo. Below a
 * field this project does not look into (probes, volume sources, statuses, a Service's spec, ...) anything passes,
 * as the real API would mostly accept it: unknown fields are reported down to the depth this file describes.
 */
import * as Crd from "../api/Crd.ts"
import * as OpenApi from "./OpenApi.ts"

type Schema = OpenApi.OpenApiSchema

/** A field whose contents are not checked. */
const any: Schema = { "x-kubernetes-preserve-unknown-fields": true }
/** An object with exactly these fields: `names` unchecked below, `known` described. */
const fields = (names: ReadonlyArray<string>, known: Readonly<Record<string, Schema>> = {}): Schema => ({
  type: "object",
  properties: { ...Object.fromEntries(names.map((name) => [name, any])), ...known }
})
const list = (items: Schema): Schema => ({ type: "array", items })

const objectMeta = fields(
  [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "finalizers",
    "managedFields"
  ],
  { ownerReferences: list(fields(["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"])) }
)

/** `apiVersion`, `kind`, `metadata` and the kind's own top-level fields. */
const kind = (names: ReadonlyArray<string>, known: Readonly<Record<string, Schema>> = {}): Schema =>
  fields(["apiVersion", "kind", ...names], { metadata: objectMeta, ...known })

const labelSelector = fields([], {
  matchLabels: any,
  matchExpressions: list(fields(["key", "operator", "values"]))
})

const container = fields(
  [
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "env",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty"
  ],
  {
    ports: list(fields(["name", "hostPort", "containerPort", "protocol", "hostIP"])),
    resources: fields(["limits", "requests", "claims"])
  }
)

const volumeSources = [
  "hostPath",
  "emptyDir",
  "gcePersistentDisk",
  "awsElasticBlockStore",
  "gitRepo",
  "secret",
  "nfs",
  "iscsi",
  "glusterfs",
  "persistentVolumeClaim",
  "rbd",
  "flexVolume",
  "cinder",
  "cephfs",
  "flocker",
  "downwardAPI",
  "fc",
  "azureFile",
  "configMap",
  "vsphereVolume",
  "quobyte",
  "azureDisk",
  "photonPersistentDisk",
  "projected",
  "portworxVolume",
  "scaleIO",
  "storageos",
  "csi",
  "ephemeral",
  "image"
]

const nodeSelectorTerm = fields([], {
  matchExpressions: list(fields(["key", "operator", "values"])),
  matchFields: list(fields(["key", "operator", "values"]))
})
const podAffinityTerm = fields(["namespaces", "topologyKey", "matchLabelKeys", "mismatchLabelKeys"], {
  labelSelector,
  namespaceSelector: labelSelector
})
const podAffinityRules = fields([], {
  requiredDuringSchedulingIgnoredDuringExecution: list(podAffinityTerm),
  preferredDuringSchedulingIgnoredDuringExecution: list(fields(["weight"], { podAffinityTerm }))
})

const podSpec = fields(
  [
    "ephemeralContainers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "schedulerName",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources"
  ],
  {
    containers: list(container),
    initContainers: list(container),
    volumes: list(fields(["name", ...volumeSources])),
    tolerations: list(fields(["key", "operator", "value", "effect", "tolerationSeconds"])),
    topologySpreadConstraints: list(
      fields(
        [
          "maxSkew",
          "topologyKey",
          "whenUnsatisfiable",
          "minDomains",
          "nodeAffinityPolicy",
          "nodeTaintsPolicy",
          "matchLabelKeys"
        ],
        { labelSelector }
      )
    ),
    affinity: fields([], {
      nodeAffinity: fields([], {
        requiredDuringSchedulingIgnoredDuringExecution: fields([], { nodeSelectorTerms: list(nodeSelectorTerm) }),
        preferredDuringSchedulingIgnoredDuringExecution: list(fields(["weight"], { preference: nodeSelectorTerm }))
      }),
      podAffinity: podAffinityRules,
      podAntiAffinity: podAffinityRules
    })
  }
)
const podTemplate = fields([], { metadata: objectMeta, spec: podSpec })

const persistentVolumeSources = [
  "gcePersistentDisk",
  "awsElasticBlockStore",
  "hostPath",
  "glusterfs",
  "nfs",
  "rbd",
  "iscsi",
  "cinder",
  "cephfs",
  "fc",
  "flocker",
  "flexVolume",
  "azureFile",
  "vsphereVolume",
  "quobyte",
  "azureDisk",
  "photonPersistentDisk",
  "portworxVolume",
  "scaleIO",
  "local",
  "storageos",
  "csi"
]

const rbac = "rbac.authorization.k8s.io"
const policyRule = fields(["apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"])
const subjects = list(fields(["kind", "apiGroup", "name", "namespace"]))
const roleRef = fields(["apiGroup", "kind", "name"])

/** The built-in kinds, by `group/Kind`. */
const builtIns: ReadonlyMap<string, Schema> = new Map([
  ["/Pod", kind(["status"], { spec: podSpec })],
  [
    "apps/Deployment",
    kind(["status"], {
      spec: fields(
        ["replicas", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused", "progressDeadlineSeconds"],
        { selector: labelSelector, template: podTemplate }
      )
    })
  ],
  [
    "apps/ReplicaSet",
    kind(["status"], {
      spec: fields(["replicas", "minReadySeconds"], { selector: labelSelector, template: podTemplate })
    })
  ],
  [
    "apps/DaemonSet",
    kind(["status"], {
      spec: fields(["updateStrategy", "minReadySeconds", "revisionHistoryLimit"], {
        selector: labelSelector,
        template: podTemplate
      })
    })
  ],
  [
    "/Node",
    kind(["status"], {
      spec: fields(["podCIDR", "podCIDRs", "providerID", "unschedulable", "configSource", "externalID"], {
        taints: list(fields(["key", "value", "effect", "timeAdded"]))
      })
    })
  ],
  ["/Namespace", kind(["status"], { spec: fields(["finalizers"]) })],
  [
    "/Event",
    kind([
      "involvedObject",
      "reason",
      "message",
      "source",
      "firstTimestamp",
      "lastTimestamp",
      "count",
      "type",
      "eventTime",
      "series",
      "action",
      "related",
      "reportingComponent",
      "reportingInstance"
    ])
  ],
  [
    "/PersistentVolumeClaim",
    kind(["status"], {
      spec: fields([
        "accessModes",
        "selector",
        "resources",
        "volumeName",
        "storageClassName",
        "volumeMode",
        "dataSource",
        "dataSourceRef",
        "volumeAttributesClassName"
      ])
    })
  ],
  [
    "/PersistentVolume",
    kind(["status"], {
      spec: fields([
        "capacity",
        "accessModes",
        "claimRef",
        "persistentVolumeReclaimPolicy",
        "storageClassName",
        "mountOptions",
        "volumeMode",
        "nodeAffinity",
        "volumeAttributesClassName",
        ...persistentVolumeSources
      ])
    })
  ],
  [
    "storage.k8s.io/StorageClass",
    kind([
      "provisioner",
      "parameters",
      "reclaimPolicy",
      "mountOptions",
      "allowVolumeExpansion",
      "volumeBindingMode",
      "allowedTopologies"
    ])
  ],
  ["storage.k8s.io/CSINode", kind([], { spec: fields(["drivers"]) })],
  [
    "policy/PodDisruptionBudget",
    kind(["status"], {
      spec: fields(["minAvailable", "maxUnavailable", "unhealthyPodEvictionPolicy"], { selector: labelSelector })
    })
  ],
  [
    "coordination.k8s.io/Lease",
    kind([], {
      spec: fields([
        "holderIdentity",
        "leaseDurationSeconds",
        "acquireTime",
        "renewTime",
        "leaseTransitions",
        "strategy",
        "preferredHolder"
      ])
    })
  ],
  ["/ServiceAccount", kind(["secrets", "imagePullSecrets", "automountServiceAccountToken"])],
  ["/Service", kind(["spec", "status"])],
  ["/ConfigMap", kind(["data", "binaryData", "immutable"])],
  ["/Secret", kind(["data", "stringData", "type", "immutable"])],
  [`${rbac}/ClusterRole`, kind(["aggregationRule"], { rules: list(policyRule) })],
  [`${rbac}/Role`, kind([], { rules: list(policyRule) })],
  [`${rbac}/ClusterRoleBinding`, kind([], { subjects, roleRef })],
  [`${rbac}/RoleBinding`, kind([], { subjects, roleRef })],
  ["apiextensions.k8s.io/CustomResourceDefinition", kind(["spec", "status"])]
])

// Generating a CRD's schema takes a while: once per kind.
const custom = new Map<string, Schema>()

const customSchema = (group: string, kindName: string): Schema | undefined => {
  const id = `${group}/${kindName}`
  const cached = custom.get(id)
  if (cached !== undefined) return cached
  const definition = Crd.definitions.find((candidate) => candidate.group === group && candidate.kind === kindName)
  if (definition === undefined) return undefined
  const schema = Crd.openApiSchema(definition)
  // The CRD leaves metadata to the apiserver, which knows ObjectMeta's fields.
  const withMetadata = { ...schema, properties: { ...(schema.properties as Schema), metadata: objectMeta } }
  custom.set(id, withMetadata)
  return withMetadata
}

/** The known fields of a kind, or undefined for a kind this project does not serve. */
export const schemaOf = (target: { readonly group: string; readonly kind: string }): Schema | undefined =>
  builtIns.get(`${target.group}/${target.kind}`) ?? customSchema(target.group, target.kind)

/** The fields of `object` its kind does not know, as paths (`spec.foo`); empty for a kind it does not know. */
export const unknownFields = (
  target: { readonly group: string; readonly kind: string },
  object: unknown
): Array<string> => {
  const schema = schemaOf(target)
  return schema === undefined ? [] : OpenApi.unknownFields(schema, object)
}

/** kube-apiserver's strict decoding error for unknown fields. */
export const strictDecodingError = (unknown: ReadonlyArray<string>): string =>
  `strict decoding error: ${unknown.map((field) => `unknown field ${JSON.stringify(field)}`).join(", ")}`

/**
 * The kinds the façade serves and the legacy discovery documents kubectl and client-node resolve them from
 * (kube-api.md §2.1): `/version`, `/api`, `/apis`, `/apis/<group>`, `/api/v1` and `/apis/<group>/<version>`.
 */
import * as Crd from "../../api/Crd.ts"
import type * as Resource from "../../kube/Resource.ts"
import * as Resources from "../../kube/Resources.ts"

/** A subresource as discovery lists it. */
export interface Subresource {
  readonly name: "status" | "scale" | "eviction" | "binding"
  /** The kind the subresource takes and returns, when it is not the parent's. */
  readonly responseKind?: { readonly group: string; readonly version: string; readonly kind: string }
  readonly verbs: ReadonlyArray<string>
}

/** A served kind: its resource descriptor and what discovery says about it. */
export interface Kind {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly plural: string
  readonly singular: string
  readonly namespaced: boolean
  readonly apiVersion: string
  readonly shortNames: ReadonlyArray<string>
  readonly categories: ReadonlyArray<string>
  readonly subresources: ReadonlyArray<Subresource>
  /** The KubeClient descriptor; undefined for the kinds the façade serves itself (CRDs and {@link localKinds}). */
  readonly resource: Resource.Resource<Resource.KubeObject> | undefined
  /** The CRD's printer columns, for custom resources. */
  readonly printerColumns: ReadonlyArray<Crd.PrinterColumn> | undefined
  /** The verbs served, when not every object verb (the authorization reviews are only created). */
  readonly verbs?: ReadonlyArray<string>
}

const objectVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
const subresourceVerbs = ["get", "patch", "update"]
const status: Subresource = { name: "status", verbs: subresourceVerbs }
const scale: Subresource = {
  name: "scale",
  responseKind: { group: "autoscaling", version: "v1", kind: "Scale" },
  verbs: subresourceVerbs
}

// Upstream's short names, categories and subresources of the built-in kinds.
const builtIns: Readonly<
  Record<string, { shortNames?: Array<string>; categories?: Array<string>; subresources?: Array<Subresource> }>
> = {
  pods: {
    shortNames: ["po"],
    categories: ["all"],
    subresources: [
      status,
      {
        name: "eviction",
        responseKind: { group: "policy", version: "v1", kind: "Eviction" },
        verbs: ["create"]
      },
      { name: "binding", responseKind: { group: "", version: "v1", kind: "Binding" }, verbs: ["create"] }
    ]
  },
  nodes: { shortNames: ["no"], subresources: [status] },
  namespaces: { shortNames: ["ns"], subresources: [status] },
  events: { shortNames: ["ev"] },
  configmaps: { shortNames: ["cm"] },
  persistentvolumeclaims: { shortNames: ["pvc"], subresources: [status] },
  persistentvolumes: { shortNames: ["pv"], subresources: [status] },
  storageclasses: { shortNames: ["sc"] },
  csinodes: {},
  volumeattachments: { subresources: [status] },
  poddisruptionbudgets: { shortNames: ["pdb"], subresources: [status] },
  leases: {},
  deployments: { shortNames: ["deploy"], categories: ["all"], subresources: [status, scale] },
  replicasets: { shortNames: ["rs"], categories: ["all"], subresources: [status, scale] },
  daemonsets: { shortNames: ["ds"], categories: ["all"], subresources: [status] }
}

const singularOf = (kind: string) => kind.toLowerCase()

const ofResource = (resource: Resource.Resource<Resource.KubeObject>): Kind => {
  const definition = Crd.definitions.find(
    (candidate) => candidate.group === resource.group && candidate.plural === resource.plural
  )
  const builtIn = builtIns[resource.plural] ?? {}
  return {
    group: resource.group,
    version: resource.version,
    kind: resource.kind,
    plural: resource.plural,
    singular: definition?.singular ?? singularOf(resource.kind),
    namespaced: resource.namespaced,
    apiVersion: resource.apiVersion,
    shortNames: definition?.shortNames ?? builtIn.shortNames ?? [],
    categories: definition?.categories ?? builtIn.categories ?? [],
    subresources:
      definition === undefined
        ? (builtIn.subresources ?? [])
        : definition.scale === undefined
          ? [status]
          : [status, scale],
    resource,
    printerColumns: definition?.printerColumns
  }
}

/** CustomResourceDefinitions: served read-mostly by the façade (our CRDs are always installed). */
export const customResourceDefinitions: Kind = {
  group: "apiextensions.k8s.io",
  version: "v1",
  kind: "CustomResourceDefinition",
  plural: "customresourcedefinitions",
  singular: "customresourcedefinition",
  namespaced: false,
  apiVersion: "apiextensions.k8s.io/v1",
  shortNames: ["crd", "crds"],
  categories: ["api-extensions"],
  subresources: [status],
  resource: undefined,
  printerColumns: undefined
}

const local = (options: {
  readonly group: string
  readonly kind: string
  readonly plural: string
  readonly namespaced: boolean
  readonly shortNames?: ReadonlyArray<string>
  readonly categories?: ReadonlyArray<string>
}): Kind => ({
  group: options.group,
  version: "v1",
  kind: options.kind,
  plural: options.plural,
  singular: singularOf(options.kind),
  namespaced: options.namespaced,
  apiVersion: options.group === "" ? "v1" : `${options.group}/v1`,
  shortNames: options.shortNames ?? [],
  categories: options.categories ?? [],
  subresources: [],
  resource: undefined,
  printerColumns: undefined
})

const rbac = "rbac.authorization.k8s.io"

/** Kinds outside the KubeClient registry that manifests carry: the façade stores them itself (LocalObjects). */
export const localKinds: ReadonlyArray<Kind> = [
  local({ group: "", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true, shortNames: ["sa"] }),
  local({
    group: "",
    kind: "Service",
    plural: "services",
    namespaced: true,
    shortNames: ["svc"],
    categories: ["all"]
  }),
  local({ group: "", kind: "Secret", plural: "secrets", namespaced: true }),
  local({ group: rbac, kind: "ClusterRole", plural: "clusterroles", namespaced: false }),
  local({ group: rbac, kind: "ClusterRoleBinding", plural: "clusterrolebindings", namespaced: false }),
  local({ group: rbac, kind: "Role", plural: "roles", namespaced: true }),
  local({ group: rbac, kind: "RoleBinding", plural: "rolebindings", namespaced: true })
]

// Reviews are only created: answered at once and never stored (AccessReviews).
const review = (kind: string): Kind => ({
  ...local({ group: "authorization.k8s.io", kind, plural: `${kind.toLowerCase()}s`, namespaced: false }),
  verbs: ["create"]
})

/** What `kubectl auth can-i` creates. */
export const selfSubjectAccessReviews: Kind = review("SelfSubjectAccessReview")

/** What `kubectl auth can-i --list` creates. */
export const selfSubjectRulesReviews: Kind = review("SelfSubjectRulesReview")

/** Every served kind. */
export const kinds: ReadonlyArray<Kind> = [
  ...Resources.all.map(ofResource),
  customResourceDefinitions,
  ...localKinds,
  selfSubjectAccessReviews,
  selfSubjectRulesReviews
]

/** Whether a kind is a custom resource (merge and JSON patch only, like an apiserver's CRD handler). */
export const isCustom = (kind: Kind): boolean => kind.printerColumns !== undefined

/** The served groups, core (`""`) first, each with its versions. */
export const groups: ReadonlyArray<{ readonly name: string; readonly versions: ReadonlyArray<string> }> = (() => {
  const result = new Map<string, Array<string>>()
  for (const kind of kinds) {
    const versions = result.get(kind.group) ?? []
    if (!versions.includes(kind.version)) versions.push(kind.version)
    result.set(kind.group, versions)
  }
  return [...result].map(([name, versions]) => ({ name, versions }))
})()

/** The served kind at `group/version` with this plural. */
export const find = (group: string, version: string, plural: string): Kind | undefined =>
  kinds.find((kind) => kind.group === group && kind.version === version && kind.plural === plural)

/** `/version`: minor 32, so the gcloud kubectl dispatcher picks its 1.32 client. */
export const version = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.4-karpenter-effect",
  gitCommit: "karpenter-effect",
  gitTreeState: "clean",
  buildDate: "2025-01-01T00:00:00Z",
  goVersion: "go1.23.0",
  compiler: "gc",
  platform: "linux/amd64"
}

const groupVersion = (group: string, version: string) => ({
  groupVersion: group === "" ? version : `${group}/${version}`,
  version
})

const groupDocument = (group: { readonly name: string; readonly versions: ReadonlyArray<string> }) => ({
  name: group.name,
  versions: group.versions.map((version) => groupVersion(group.name, version)),
  preferredVersion: groupVersion(group.name, group.versions[0]!)
})

/** `/api`. */
export const apiVersions = (serverAddress: string) => ({
  kind: "APIVersions",
  versions: ["v1"],
  serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }]
})

/** `/apis`. */
export const apiGroupList = {
  kind: "APIGroupList",
  apiVersion: "v1",
  groups: groups.filter((group) => group.name !== "").map(groupDocument)
}

/** `/apis/<group>`, if the group is served. */
export const apiGroup = (name: string) => {
  const group = groups.find((candidate) => candidate.name === name && name !== "")
  return group === undefined ? undefined : { kind: "APIGroup", apiVersion: "v1", ...groupDocument(group) }
}

/** `/api/v1` or `/apis/<group>/<version>`, if served. */
export const apiResourceList = (group: string, version: string) => {
  const served = kinds.filter((kind) => kind.group === group && kind.version === version)
  if (served.length === 0) return undefined
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: groupVersion(group, version).groupVersion,
    resources: served.flatMap((kind) => [
      {
        name: kind.plural,
        singularName: kind.singular,
        namespaced: kind.namespaced,
        kind: kind.kind,
        verbs: kind.verbs ?? objectVerbs,
        ...(kind.shortNames.length === 0 ? {} : { shortNames: kind.shortNames }),
        ...(kind.categories.length === 0 ? {} : { categories: kind.categories })
      },
      ...kind.subresources.map((sub) => ({
        name: `${kind.plural}/${sub.name}`,
        singularName: "",
        namespaced: kind.namespaced,
        ...(sub.responseKind === undefined
          ? { kind: kind.kind }
          : {
              ...(sub.responseKind.group === "" ? {} : { group: sub.responseKind.group }),
              version: sub.responseKind.version,
              kind: sub.responseKind.kind
            }),
        verbs: sub.verbs
      }))
    ])
  }
}

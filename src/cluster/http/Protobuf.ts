/**
 * Decoding of the Kubernetes protobuf request encoding (`application/vnd.kubernetes.protobuf`) for the kinds kubectl's
 * imperative generators create (`create namespace|deployment|configmap|secret|serviceaccount|service|pdb`, `run`) and
 * the reviews `auth can-i` sends: the `k8s\0` + runtime.Unknown envelope, then the object by the field numbers of
 * k8s.io/api's generated.proto. Fields outside these tables are skipped; the result is the object's JSON form.
 */

/** A JSON object. */
type Json = { [key: string]: unknown }

type Scalar = "string" | "int" | "bool" | "bytes" | "quantity" | "intOrString"

interface Field {
  readonly name: string
  readonly type: Scalar | Message | { readonly map: Scalar }
  readonly repeated?: boolean
  /** Go value fields are always encoded; a zero there means "unset". */
  readonly omitZero?: boolean
}

interface Message {
  readonly [field: number]: Field
}

const string = (name: string): Field => ({ name, type: "string" })
const strings = (name: string): Field => ({ name, type: "string", repeated: true })
const int = (name: string): Field => ({ name, type: "int" })
const bool = (name: string): Field => ({ name, type: "bool" })
/** A Go value bool: false is indistinguishable from unset. */
const flag = (name: string): Field => ({ name, type: "bool", omitZero: true })
const stringMap = (name: string): Field => ({ name, type: { map: "string" } })
const message = (name: string, type: Message, repeated = false): Field => ({ name, type, repeated })

const ownerReference: Message = {
  1: string("kind"),
  3: string("name"),
  4: string("uid"),
  5: string("apiVersion"),
  6: bool("controller"),
  7: bool("blockOwnerDeletion")
}
const objectMeta: Message = {
  1: string("name"),
  2: string("generateName"),
  3: string("namespace"),
  11: stringMap("labels"),
  12: stringMap("annotations"),
  13: message("ownerReferences", ownerReference, true),
  14: strings("finalizers")
}
const labelSelector: Message = {
  1: stringMap("matchLabels"),
  2: message("matchExpressions", { 1: string("key"), 2: string("operator"), 3: strings("values") }, true)
}
const container: Message = {
  1: string("name"),
  2: string("image"),
  3: strings("command"),
  4: strings("args"),
  5: string("workingDir"),
  6: message(
    "ports",
    {
      1: string("name"),
      2: { name: "hostPort", type: "int", omitZero: true },
      3: int("containerPort"),
      4: string("protocol"),
      5: string("hostIP")
    },
    true
  ),
  7: message("env", { 1: string("name"), 2: string("value") }, true),
  8: message("resources", {
    1: { name: "limits", type: { map: "quantity" } },
    2: { name: "requests", type: { map: "quantity" } }
  }),
  14: string("imagePullPolicy"),
  24: string("restartPolicy")
}
const podSpec: Message = {
  2: message("containers", container, true),
  20: message("initContainers", container, true),
  3: string("restartPolicy"),
  4: int("terminationGracePeriodSeconds"),
  6: string("dnsPolicy"),
  7: stringMap("nodeSelector"),
  8: string("serviceAccountName"),
  10: string("nodeName"),
  11: flag("hostNetwork"),
  19: string("schedulerName"),
  22: message(
    "tolerations",
    { 1: string("key"), 2: string("operator"), 3: string("value"), 4: string("effect"), 5: int("tolerationSeconds") },
    true
  ),
  24: string("priorityClassName"),
  25: int("priority")
}
const podTemplate: Message = { 1: message("metadata", objectMeta), 2: message("spec", podSpec) }

/** The supported kinds by `apiVersion/kind`. */
const kinds: Readonly<Record<string, Message>> = {
  "v1/Namespace": { 1: message("metadata", objectMeta), 2: message("spec", { 1: strings("finalizers") }) },
  "v1/Pod": { 1: message("metadata", objectMeta), 2: message("spec", podSpec) },
  "v1/ConfigMap": {
    1: message("metadata", objectMeta),
    2: stringMap("data"),
    3: { name: "binaryData", type: { map: "bytes" } },
    4: bool("immutable")
  },
  "v1/Secret": {
    1: message("metadata", objectMeta),
    2: { name: "data", type: { map: "bytes" } },
    3: string("type"),
    4: stringMap("stringData"),
    5: bool("immutable")
  },
  "v1/Service": {
    1: message("metadata", objectMeta),
    2: message("spec", {
      1: message(
        "ports",
        {
          1: string("name"),
          2: string("protocol"),
          3: int("port"),
          4: { name: "targetPort", type: "intOrString" },
          5: { name: "nodePort", type: "int", omitZero: true }
        },
        true
      ),
      2: stringMap("selector"),
      3: string("clusterIP"),
      4: string("type")
    })
  },
  "v1/ServiceAccount": { 1: message("metadata", objectMeta), 4: bool("automountServiceAccountToken") },
  "apps/v1/Deployment": {
    1: message("metadata", objectMeta),
    2: message("spec", {
      1: int("replicas"),
      2: message("selector", labelSelector),
      3: message("template", podTemplate),
      4: message("strategy", { 1: string("type") }),
      5: { name: "minReadySeconds", type: "int", omitZero: true },
      6: int("revisionHistoryLimit"),
      7: flag("paused"),
      9: int("progressDeadlineSeconds")
    })
  },
  // What `kubectl auth can-i` sends (k8s.io/api/authorization/v1).
  "authorization.k8s.io/v1/SelfSubjectAccessReview": {
    1: message("metadata", objectMeta),
    2: message("spec", {
      1: message("resourceAttributes", {
        1: string("namespace"),
        2: string("verb"),
        3: string("group"),
        4: string("version"),
        5: string("resource"),
        6: string("subresource"),
        7: string("name")
      }),
      2: message("nonResourceAttributes", { 1: string("path"), 2: string("verb") })
    })
  },
  "authorization.k8s.io/v1/SelfSubjectRulesReview": {
    1: message("metadata", objectMeta),
    2: message("spec", { 1: string("namespace") })
  },
  "policy/v1/PodDisruptionBudget": {
    1: message("metadata", objectMeta),
    2: message("spec", {
      1: { name: "minAvailable", type: "intOrString" },
      2: message("selector", labelSelector),
      3: { name: "maxUnavailable", type: "intOrString" },
      4: string("unhealthyPodEvictionPolicy")
    })
  }
}

// Thrown inside decode only and turned into a result at its boundary.
class Malformed {
  constructor(readonly message: string) {}
}

class Reader {
  private position = 0
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.position >= this.bytes.length
  }

  varint(): number {
    let value = 0
    let scale = 1
    for (;;) {
      const byte = this.bytes[this.position++]
      if (byte === undefined) throw new Malformed("truncated varint")
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) break
      scale *= 128
    }
    // int32/int64 negatives are ten-byte two's complement.
    return value >= 2 ** 63 ? value - 2 ** 64 : value
  }

  chunk(): Uint8Array {
    const length = this.varint()
    const end = this.position + length
    if (end > this.bytes.length) throw new Malformed("truncated field")
    const chunk = this.bytes.subarray(this.position, end)
    this.position = end
    return chunk
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint()
    else if (wireType === 2) this.chunk()
    else if (wireType === 1) this.position += 8
    else if (wireType === 5) this.position += 4
    else throw new Malformed(`unsupported wire type ${wireType}`)
  }
}

const utf8 = new TextDecoder()

const scalar = (reader: Reader, type: Scalar): unknown => {
  switch (type) {
    case "string":
      return utf8.decode(reader.chunk())
    case "int":
      return reader.varint()
    case "bool":
      return reader.varint() !== 0
    case "bytes":
      return Buffer.from(reader.chunk()).toString("base64")
    case "quantity":
      return decodeMessage(reader.chunk(), { 1: string("string") }).string ?? "0"
    case "intOrString": {
      const value = decodeMessage(reader.chunk(), { 1: int("type"), 2: int("intVal"), 3: string("strVal") })
      return value.type === 1 ? (value.strVal ?? "") : (value.intVal ?? 0)
    }
  }
}

const decodeMessage = (bytes: Uint8Array, type: Message): Json => {
  const reader = new Reader(bytes)
  const result: Json = {}
  while (!reader.done) {
    const tag = reader.varint()
    const field = type[Math.floor(tag / 8)]
    if (field === undefined) {
      reader.skip(tag % 8)
      continue
    }
    if (typeof field.type === "object" && "map" in field.type) {
      const entry = decodeEntry(reader.chunk(), field.type.map)
      const map = (result[field.name] ?? {}) as Json
      map[entry.key] = entry.value
      result[field.name] = map
    } else {
      const value =
        typeof field.type === "string" ? scalar(reader, field.type) : decodeMessage(reader.chunk(), field.type)
      if (field.repeated === true) result[field.name] = [...((result[field.name] ?? []) as Array<unknown>), value]
      else if (!(value === "" || (field.omitZero === true && (value === 0 || value === false)))) {
        result[field.name] = value
      }
    }
  }
  return result
}

const decodeEntry = (bytes: Uint8Array, type: Scalar): { readonly key: string; readonly value: unknown } => {
  const reader = new Reader(bytes)
  let key = ""
  let value: unknown = type === "string" || type === "bytes" ? "" : undefined
  while (!reader.done) {
    const tag = reader.varint()
    const number = Math.floor(tag / 8)
    if (number === 1) key = utf8.decode(reader.chunk())
    else if (number === 2) value = scalar(reader, type)
    else reader.skip(tag % 8)
  }
  return { key, value }
}

const magic = [0x6b, 0x38, 0x73, 0x00]

/** The JSON form of a protobuf-encoded object, or why it cannot be read. */
export const decode = (
  bytes: Uint8Array
): { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly message: string } => {
  try {
    if (!magic.every((byte, index) => bytes[index] === byte))
      return { ok: false, message: "missing the k8s protobuf prefix" }
    const envelope = new Reader(bytes.subarray(magic.length))
    let typeMeta: Json = {}
    let raw: Uint8Array | undefined
    while (!envelope.done) {
      const tag = envelope.varint()
      const number = Math.floor(tag / 8)
      if (number === 1) typeMeta = decodeMessage(envelope.chunk(), { 1: string("apiVersion"), 2: string("kind") })
      else if (number === 2) raw = envelope.chunk()
      else envelope.skip(tag % 8)
    }
    const type = kinds[`${String(typeMeta.apiVersion)}/${String(typeMeta.kind)}`]
    if (type === undefined || raw === undefined) {
      return {
        ok: false,
        message: `protobuf is not served for ${String(typeMeta.apiVersion)} ${String(typeMeta.kind)}: send JSON (kubectl apply -f or create -f)`
      }
    }
    return { ok: true, value: { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...decodeMessage(raw, type) } }
  } catch (error) {
    if (error instanceof Malformed) return { ok: false, message: `malformed protobuf: ${error.message}` }
    throw error
  }
}

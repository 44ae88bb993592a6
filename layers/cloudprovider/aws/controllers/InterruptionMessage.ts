/**
 * The EventBridge messages the interruption queue receives (aws/karpenter-provider-aws v1.4.0,
 * `pkg/controllers/interruption/parser.go` and `messages/*`): a message is told apart by its `version`, `source` and
 * `detail-type`, and names the EC2 instances it is about. Messages of no known shape, of an AWS Health category or an
 * instance state Karpenter does not act on, are no-ops; a body that is not such JSON at all is malformed.
 */
import * as Data from "effect/Data"

/** What a message is about (upstream `messages.Kind`, also the metrics' `message_type` and disruption reason). */
export type Kind =
  | "rebalance_recommendation"
  | "scheduled_change"
  | "spot_interrupted"
  | "instance_stopped"
  | "instance_terminated"
  | "no_op"

/** The kinds a message is acted on for. */
export type ActionableKind = Exclude<Kind, "no_op">

/** A parsed message. */
export interface Message {
  readonly kind: Kind
  readonly instanceIds: ReadonlyArray<string>
  /** When the event happened (its `time`), in epoch millis; undefined when the message has none. */
  readonly time: number | undefined
}

/** A body that is not an EventBridge message of the expected shape. */
export class MalformedMessage extends Data.TaggedError("MalformedMessage")<{ readonly message: string }> {}

/** The instance states a state-change notification is acted on for (upstream `statechange.acceptedStates`). */
const actedOnStates: ReadonlySet<string> = new Set(["stopping", "stopped", "shutting-down", "terminated"])

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** The string at `key`, "" when absent, as Go's decoding into a string field; anything else is malformed. */
const stringAt = (object: Json, key: string): string => {
  const value = object[key]
  if (value === undefined || value === null) return ""
  if (typeof value !== "string") throw new MalformedMessage({ message: `"${key}" is not a string` })
  return value
}

/** The object at `key`, empty when absent. */
const objectAt = (object: Json, key: string): Json => {
  const value = object[key]
  if (value === undefined || value === null) return {}
  if (!isObject(value)) throw new MalformedMessage({ message: `"${key}" is not an object` })
  return value
}

const noOp = (time: number | undefined): Message => ({ kind: "no_op", instanceIds: [], time })

/** The `detail` parser of each known (version, source, detail-type), as upstream's `DefaultParsers`. */
const parsers: Readonly<Record<string, (detail: Json, time: number | undefined) => Message>> = {
  "0/aws.ec2/EC2 Spot Instance Interruption Warning": (detail, time) => ({
    kind: "spot_interrupted",
    instanceIds: [stringAt(detail, "instance-id")],
    time
  }),
  "0/aws.ec2/EC2 Instance Rebalance Recommendation": (detail, time) => ({
    kind: "rebalance_recommendation",
    instanceIds: [stringAt(detail, "instance-id")],
    time
  }),
  "0/aws.ec2/EC2 Instance State-change Notification": (detail, time) => {
    const state = stringAt(detail, "state")
    if (!actedOnStates.has(state.toLowerCase())) return noOp(time)
    return {
      // upstream compares the state as sent (lower case) here, so a "Stopping" is a termination; kept as is.
      kind: state === "stopping" || state === "stopped" ? "instance_stopped" : "instance_terminated",
      instanceIds: [stringAt(detail, "instance-id")],
      time
    }
  },
  "0/aws.health/AWS Health Event": (detail, time) => {
    // Only scheduled changes of EC2 are acted on.
    if (stringAt(detail, "service") !== "EC2" || stringAt(detail, "eventTypeCategory") !== "scheduledChange") {
      return noOp(time)
    }
    const entities = detail.affectedEntities ?? []
    if (!Array.isArray(entities)) throw new MalformedMessage({ message: `"affectedEntities" is not an array` })
    return {
      kind: "scheduled_change",
      instanceIds: entities.map((entity) => {
        if (!isObject(entity)) throw new MalformedMessage({ message: "an affected entity is not an object" })
        return stringAt(entity, "entityValue")
      }),
      time
    }
  }
}

const parseTime = (text: string): number | undefined => {
  if (text === "") return undefined
  const time = Date.parse(text)
  if (Number.isNaN(time)) throw new MalformedMessage({ message: `"time" is not a timestamp: ${text}` })
  return time
}

/** Parses a message body (upstream `EventParser.Parse`): an empty body is a no-op. */
export const parse = (body: string): Message | MalformedMessage => {
  if (body === "") return noOp(undefined)
  try {
    let decoded: unknown
    try {
      decoded = JSON.parse(body)
    } catch (error) {
      return new MalformedMessage({ message: `not JSON: ${String(error)}` })
    }
    if (!isObject(decoded)) return new MalformedMessage({ message: "not a JSON object" })
    const time = parseTime(stringAt(decoded, "time"))
    const parser =
      parsers[`${stringAt(decoded, "version")}/${stringAt(decoded, "source")}/${stringAt(decoded, "detail-type")}`]
    return parser === undefined ? noOp(time) : parser(objectAt(decoded, "detail"), time)
  } catch (error) {
    if (error instanceof MalformedMessage) return error
    throw error
  }
}

/** The instance id of an EC2 providerID, `aws:///<zone>/<instance-id>` (upstream `utils.ParseInstanceID`). */
export const instanceIdOf = (providerID: string): string | undefined => {
  const match = /^aws:\/\/\/(.*)\/(.*)$/.exec(providerID)
  return match === null || match[2] === "" ? undefined : match[2]
}

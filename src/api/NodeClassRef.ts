/**
 * The reference from a NodePool template or NodeClaim to its provider-specific NodeClass.
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"

const nonEmpty = (field: string) =>
  Cel.rule<string>({ rule: "self != ''", message: `${field} may not be empty`, holds: (value) => value !== "" })

/** `{group, kind, name}` of a NodeClass, all required and non-empty. */
export const NodeClassRef = Schema.Struct({
  group: Schema.String.check(
    Cel.pattern(/^[^/]*$/, "must not contain '/'"),
    Schema.isMaxLength(253),
    nonEmpty("group")
  ),
  kind: Schema.String.check(Schema.isMaxLength(63), nonEmpty("kind")),
  name: Schema.String.check(Schema.isMaxLength(253), nonEmpty("name"))
})
export type NodeClassRef = typeof NodeClassRef.Type

/** A NodePool's reference: the name may change, group and kind may not. */
export const NodePoolNodeClassRef = NodeClassRef.check(
  Cel.transitionRule({ rule: "self.group == oldSelf.group", message: "nodeClassRef.group is immutable" }),
  Cel.transitionRule({ rule: "self.kind == oldSelf.kind", message: "nodeClassRef.kind is immutable" })
)

/** The key used to match objects that reference the same NodeClass. */
export const key = (ref: NodeClassRef): string => `${ref.group}/${ref.kind}/${ref.name}`

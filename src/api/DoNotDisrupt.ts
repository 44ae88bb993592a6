/**
 * `karpenter.sh/do-not-disrupt` on a pod (upstream v1.12 `pkg/utils/pod/scheduling.go`, `IsDoNotDisruptActive`):
 * "true" protects the pod for as long as it runs; a positive Go duration ("30m", "1h30m") protects it for that long
 * after it started (indefinitely while it has no start time); any other value protects nothing and is reported as
 * invalid. Pure functions; times are epoch milliseconds.
 */
import * as Duration from "./Duration.ts"
import * as Labels from "./Labels.ts"
import type { Pod } from "./Pod.ts"

/** What the annotation asks for: nothing, protection until a time (Infinity: no end), or an invalid value. */
export type Protection =
  | { readonly _tag: "None" }
  | { readonly _tag: "Until"; readonly until: number; readonly duration: string | undefined }
  | { readonly _tag: "Invalid"; readonly message: string }

const none: Protection = { _tag: "None" }
const forever: Protection = { _tag: "Until", until: Number.POSITIVE_INFINITY, duration: undefined }

/** The annotation's value as a positive duration in milliseconds, or why it is not one (Go's `time.ParseDuration`). */
export const parseDuration = (value: string): number | string => {
  // Go accepts a sign; a negative duration is parsed, then refused for not being positive.
  const negative = value.startsWith("-")
  const unsigned = negative || value.startsWith("+") ? value.slice(1) : value
  const millis = unsigned === "0" ? 0 : Duration.toMillis(unsigned)
  if (millis === null || millis === undefined) return `cannot parse "${value}" as a duration`
  if (negative || millis <= 0) return `duration "${value}" is not positive`
  return millis
}

/** The pod's do-not-disrupt protection. */
export const protection = (pod: Pod): Protection => {
  const value = pod.metadata.annotations?.[Labels.DoNotDisruptAnnotation]
  if (value === undefined) return none
  if (value === "true") return forever
  const parsed = parseDuration(value)
  if (typeof parsed === "string") return { _tag: "Invalid", message: parsed }
  const started = pod.status?.startTime === undefined ? Number.NaN : Date.parse(pod.status.startTime)
  // Without a start time the end is unknown: protect, as upstream fails safe.
  return { _tag: "Until", until: Number.isNaN(started) ? Number.POSITIVE_INFINITY : started + parsed, duration: value }
}

/** When the pod's protection ends (Infinity: not before the annotation goes), or undefined when it has none. */
export const protectedUntil = (pod: Pod): number | undefined => {
  const found = protection(pod)
  return found._tag === "Until" ? found.until : undefined
}

/** Whether the annotation protects the pod at `now`. */
export const isProtected = (pod: Pod, now: number): boolean => (protectedUntil(pod) ?? Number.NEGATIVE_INFINITY) > now

// Informer lists are the same array until one of their pods changes: most lists are scanned once.
const annotatedLists = new WeakMap<ReadonlyArray<Pod>, boolean>()

/** Whether any pod of the list carries the annotation (whatever its value). */
export const anyAnnotated = (pods: ReadonlyArray<Pod>): boolean => {
  let annotated = annotatedLists.get(pods)
  if (annotated === undefined) {
    annotated = pods.some((pod) => pod.metadata.annotations?.[Labels.DoNotDisruptAnnotation] !== undefined)
    annotatedLists.set(pods, annotated)
  }
  return annotated
}

/**
 * Compacting the objects read from the API server, which outlive their requests in the informers' caches. JSON.parse
 * gives every string value of every object its own copy (V8 shares only property names and very short values), so
 * 30,000 cached pods held tens of thousands of copies of the same node names, owner references, timestamps, images and
 * label values: equal strings are shared. And decoding builds each array by appending, which leaves room for 17
 * elements in one of 1 (V8's growth step): a pod's containers, owner references and conditions took ~145 bytes of
 * backing store each, ~20 MB at 30,000 pods; each array is copied to its length.
 */

/** The top-level metadata fields whose values belong to one object. */
const ownValues: ReadonlySet<string> = new Set(["name", "uid", "resourceVersion"])

/** Strings longer than this are left alone: rarely repeated (annotations' blobs), and costly to hash. */
const maxLength = 256

/**
 * A compactor: `objects` walks a decoded object and replaces, in place, each string by the first equal one it met and
 * each array by a copy of its length. Its table of strings is bounded: two generations of `generation` entries, a
 * string met again in the older one moving to the newer; when the newer fills up the older is dropped, so strings no
 * object holds any more are released.
 */
export const make = (generation = 50_000) => {
  let older = new Map<string, string>()
  let newer = new Map<string, string>()
  const intern = (value: string): string => {
    if (value.length > maxLength) return value
    const known = newer.get(value)
    if (known !== undefined) return known
    const shared = older.get(value) ?? value
    if (newer.size >= generation) {
      older = newer
      newer = new Map()
    }
    newer.set(shared, shared)
    return shared
  }
  const compact = (value: unknown): unknown => {
    if (typeof value === "string") return intern(value)
    if (typeof value !== "object" || value === null) return value
    if (Array.isArray(value)) {
      // `map` allocates its result at the length (Array.from, like appending, leaves room to grow).
      return value.map(compact)
    }
    const fields = value as Record<string, unknown>
    for (const key in fields) fields[key] = compact(fields[key])
    return value
  }
  const objects = (value: object): void => {
    const fields = value as Record<string, unknown>
    for (const key in fields) {
      fields[key] = key === "metadata" ? compactMetadata(fields[key]) : compact(fields[key])
    }
  }
  // An object's own name, uid and resourceVersion are never met again (a new resourceVersion replaces the old): in the
  // table they only pushed out the values that repeat, and kept dead versions alive until the next generation.
  const compactMetadata = (metadata: unknown): unknown => {
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return compact(metadata)
    const fields = metadata as Record<string, unknown>
    for (const key in fields) if (!ownValues.has(key)) fields[key] = compact(fields[key])
    return metadata
  }
  return {
    objects,
    /** How many strings the table holds. */
    size: () => older.size + newer.size
  }
}

/**
 * Sharing equal strings among the objects read from the API server. JSON.parse gives every string value of every
 * object its own copy (V8 shares only property names and very short values), so 30,000 cached pods held tens of
 * thousands of copies of the same node names, owner references, timestamps, images and label values.
 */

/** Strings longer than this are left alone: rarely repeated (annotations' blobs), and costly to hash. */
const maxLength = 256

/**
 * An interner: `strings` walks a parsed JSON value and replaces, in place, each string by the first equal one it
 * met. Its table is bounded: two generations of `generation` entries, a string met again in the older one moving to
 * the newer; when the newer fills up the older is dropped, so strings no object holds any more are released.
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
  const strings = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const item: unknown = value[index]
        if (typeof item === "string") value[index] = intern(item)
        else if (typeof item === "object" && item !== null) strings(item)
      }
    } else if (typeof value === "object" && value !== null) {
      const fields = value as Record<string, unknown>
      for (const key in fields) {
        const field = fields[key]
        if (typeof field === "string") fields[key] = intern(field)
        else if (typeof field === "object" && field !== null) strings(field)
      }
    }
  }
  return { strings }
}

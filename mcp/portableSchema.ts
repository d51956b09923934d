/**
 * Tool schemas that agents using a strict, single-`type` JSON Schema dialect
 * accept (the MCP Inspector's `--strict` portability check): zod writes a
 * nullable field as `type: ["string", "null"]`; here every such array becomes
 * `anyOf` branches with one `type` each. The contract is unchanged: the same
 * values validate before and after.
 */
type Json = unknown;

const TYPE_KEYWORDS: Record<string, readonly string[]> = {
  string: ['minLength', 'maxLength', 'pattern', 'format'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  integer: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  array: ['items', 'minItems', 'maxItems', 'uniqueItems', 'prefixItems'],
  object: [
    'properties',
    'required',
    'additionalProperties',
    'propertyNames',
    'minProperties',
    'maxProperties',
  ],
};

export function portableSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(portableSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const src = schema as Record<string, Json>;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(src)) {
    // Keys of `properties` are names, not keywords: recurse into each value only.
    if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, portableSchema(s)]));
    } else {
      out[k] = portableSchema(v);
    }
  }
  if (!Array.isArray(out.type)) return out;
  const types = out.type as string[];
  delete out.type;
  // Type-specific keywords go into their branch; the rest (description, title) stay at the top.
  const branches = types.map((t) => {
    const b: Record<string, Json> = { type: t };
    for (const kw of TYPE_KEYWORDS[t] ?? []) if (kw in out) b[kw] = out[kw];
    return b;
  });
  for (const kws of Object.values(TYPE_KEYWORDS)) for (const kw of kws) delete out[kw];
  return { ...out, anyOf: branches };
}

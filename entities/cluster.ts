/**
 * Clustering one kind of record into entities from their evidence keys and
 * the operator's overrides. Pure: the result for a set of records depends only
 * on that set (with its keys and overrides), which is what lets the
 * incremental pass re-cluster a closed neighbourhood and get exactly what a
 * full recompute gets.
 *
 * Edges: records sharing a key are chained in record-key order; a 'same'
 * override is an edge of its own. Without 'not_same' overrides every edge is
 * taken. With them, edges are taken strongest first (override, then
 * domain/email, then org_name/name_org; ties by rule, value, records), and an
 * edge that would put a 'not_same' pair into one cluster is dropped. So a
 * 'not_same' verdict removes exactly the weakest links that would join the
 * pair; a 'same' override is never dropped.
 */
import { UnionFind } from './unionFind.js';
import {
  EVIDENCE_TYPES,
  RULE_RANK,
  compareRecordKeys,
  entityIdFor,
  type EntityKind,
  type EvidenceRule,
  type RecordKeyValue,
} from './rules.js';

export interface Override {
  a: string;
  b: string;
  verdict: 'same' | 'not_same';
}

export interface Evidence {
  rule: EvidenceRule;
  value: string;
  /** Members that share this evidence (at most EVIDENCE_LIST_MAX, in record-key order). */
  records: string[];
  /** How many members share it, when more than are listed. */
  count?: number;
  /** The link was dropped to honour a not_same override. */
  dropped?: boolean;
}

export interface Cluster {
  id: string;
  kind: EntityKind;
  anchor: string;
  members: string[];
}

export interface ClusterResult {
  clusters: Cluster[];
  entityOf: Map<string, string>;
  evidence: Map<string, Evidence[]>;
}

/** Long shared keys (a common company name) would make evidence quadratic; list this many, count the rest. */
export const EVIDENCE_LIST_MAX = 20;

interface Edge {
  rank: number;
  rule: EvidenceRule;
  value: string;
  a: string;
  b: string;
}

function compareEdges(x: Edge, y: Edge): number {
  return (
    x.rank - y.rank ||
    (x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0) ||
    (x.value < y.value ? -1 : x.value > y.value ? 1 : 0) ||
    compareRecordKeys(x.a, y.a) ||
    compareRecordKeys(x.b, y.b)
  );
}

function listed(records: string[]): Pick<Evidence, 'records' | 'count'> {
  return records.length > EVIDENCE_LIST_MAX
    ? { records: records.slice(0, EVIDENCE_LIST_MAX), count: records.length }
    : { records };
}

export function clusterRecords(
  kind: EntityKind,
  records: Map<string, RecordKeyValue[]>,
  overrides: Override[],
): ClusterResult {
  const uf = new UnionFind();
  for (const r of records.keys()) uf.add(r);

  // Key groups, members in record order.
  const groups = new Map<string, { rule: EvidenceRule; value: string; members: string[] }>();
  for (const [r, keys] of records) {
    for (const k of keys) {
      if (!EVIDENCE_TYPES.has(k.type)) continue;
      const id = `${k.type}\u0000${k.value}`;
      const g = groups.get(id);
      if (g) g.members.push(r);
      else groups.set(id, { rule: k.type as EvidenceRule, value: k.value, members: [r] });
    }
  }
  for (const g of groups.values()) if (g.members.length > 1) g.members.sort(compareRecordKeys);

  // Sorted so evidence order does not depend on where the overrides were read from (full or incremental).
  const relevant = overrides
    .filter((o) => records.has(o.a) && records.has(o.b) && o.a !== o.b)
    .sort((x, y) => compareRecordKeys(x.a, y.a) || compareRecordKeys(x.b, y.b));
  const notSame = relevant.filter((o) => o.verdict === 'not_same');
  const edges: Edge[] = [];
  for (const o of relevant) {
    if (o.verdict === 'same')
      edges.push({ rank: RULE_RANK.override, rule: 'override', value: 'same', a: o.a, b: o.b });
  }
  for (const g of groups.values()) {
    for (let i = 1; i < g.members.length; i++) {
      edges.push({
        rank: RULE_RANK[g.rule],
        rule: g.rule,
        value: g.value,
        a: g.members[i - 1]!,
        b: g.members[i]!,
      });
    }
  }

  const dropped = new Set<string>(); // `${rule}\0${value}` of groups with a dropped link
  if (notSame.length === 0) {
    // No constraint: the partition does not depend on edge order.
    for (const e of edges) uf.union(e.a, e.b);
  } else {
    edges.sort(compareEdges);
    // Forbidden partners per root, merged on union. not_same pairs are few, so lists stay short.
    const forbidden = new Map<string, string[]>();
    for (const o of notSame) {
      (forbidden.get(o.a) ?? forbidden.set(o.a, []).get(o.a)!).push(o.b);
      (forbidden.get(o.b) ?? forbidden.set(o.b, []).get(o.b)!).push(o.a);
    }
    for (const e of edges) {
      const ra = uf.find(e.a);
      const rb = uf.find(e.b);
      if (ra === rb) continue;
      const fa = forbidden.get(ra) ?? [];
      const fb = forbidden.get(rb) ?? [];
      const clash =
        e.rule !== 'override' && (fa.some((x) => uf.find(x) === rb) || fb.some((x) => uf.find(x) === ra));
      if (clash) {
        dropped.add(`${e.rule}\u0000${e.value}`);
        continue;
      }
      const root = uf.union(ra, rb)!;
      const merged = [...fa, ...fb];
      forbidden.delete(ra);
      forbidden.delete(rb);
      if (merged.length > 0) forbidden.set(root, merged);
    }
  }

  const clusters: Cluster[] = [];
  const entityOf = new Map<string, string>();
  for (const members of uf.groups().values()) {
    members.sort(compareRecordKeys);
    const anchor = members[0]!;
    const id = entityIdFor(kind, anchor);
    clusters.push({ id, kind, anchor, members });
    for (const m of members) entityOf.set(m, id);
  }
  clusters.sort((x, y) => compareRecordKeys(x.anchor, y.anchor));

  const evidence = new Map<string, Evidence[]>();
  const push = (r: string, e: Evidence) => {
    const list = evidence.get(r);
    if (list) list.push(e);
    else evidence.set(r, [e]);
  };
  for (const g of [...groups.values()].sort((x, y) =>
    compareEdges(
      { rank: RULE_RANK[x.rule], rule: x.rule, value: x.value, a: '', b: '' },
      { rank: RULE_RANK[y.rule], rule: y.rule, value: y.value, a: '', b: '' },
    ),
  )) {
    if (g.members.length < 2) continue;
    const byEntity = new Map<string, string[]>();
    for (const m of g.members) {
      const id = entityOf.get(m)!;
      (byEntity.get(id) ?? byEntity.set(id, []).get(id)!).push(m);
    }
    for (const part of byEntity.values()) {
      if (part.length > 1) for (const m of part) push(m, { rule: g.rule, value: g.value, ...listed(part) });
    }
    if (byEntity.size > 1 && dropped.has(`${g.rule}\u0000${g.value}`)) {
      for (const m of g.members)
        push(m, { rule: g.rule, value: g.value, ...listed(g.members), dropped: true });
    }
  }
  for (const o of relevant) {
    const e: Evidence = { rule: 'override', value: o.verdict, records: [o.a, o.b] };
    push(o.a, e);
    push(o.b, e);
  }
  return { clusters, entityOf, evidence };
}

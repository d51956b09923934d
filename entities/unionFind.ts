/**
 * Union-find over string ids with path halving and union by size. It keeps
 * the partition only; which edge to accept is the caller's decision
 * (entities/cluster.ts), so the structure stays a plain, fast primitive.
 */
export class UnionFind {
  private readonly parent = new Map<string, string>();
  private readonly size = new Map<string, number>();

  add(x: string): void {
    if (!this.parent.has(x)) {
      this.parent.set(x, x);
      this.size.set(x, 1);
    }
  }

  find(x: string): string {
    this.add(x);
    let cur = x;
    for (;;) {
      const p = this.parent.get(cur)!;
      if (p === cur) return cur;
      const gp = this.parent.get(p)!;
      this.parent.set(cur, gp);
      cur = gp;
    }
  }

  /** Join the sets of a and b; returns the new root, or null when they were already one set. */
  union(a: string, b: string): string | null {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return null;
    if (this.size.get(ra)! < this.size.get(rb)!) [ra, rb] = [rb, ra];
    this.parent.set(rb, ra);
    this.size.set(ra, this.size.get(ra)! + this.size.get(rb)!);
    return ra;
  }

  /** Every element grouped by root. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const x of this.parent.keys()) {
      const r = this.find(x);
      const g = out.get(r);
      if (g) g.push(x);
      else out.set(r, [x]);
    }
    return out;
  }
}

/**
 * A stand-in for the StartOS effects object: just what action metadata, input
 * and run need, recording what the actions export. Unknown effects throw with
 * their name, so a test notices when an action starts needing a new one.
 */
export interface StubEffects {
  effects: any;
  exported: { id: string; metadata: Record<string, unknown> }[];
}

export function stubEffects(eventId = 'event-1'): StubEffects {
  const exported: StubEffects['exported'] = [];
  const make = (): any => {
    const known: Record<string, unknown> = {
      eventId,
      child: () => make(),
      constRetry: () => {},
      action: {
        export: async (o: { id: string; metadata: Record<string, unknown> }) => {
          exported.push(o);
          return null;
        },
      },
    };
    return new Proxy(known, {
      get(target, prop) {
        if (prop in target) return target[prop as string];
        if (prop === 'then' || typeof prop === 'symbol') return undefined;
        return () => {
          throw new Error(`stub effects: ${String(prop)} is not stubbed`);
        };
      },
      set(target, prop, value) {
        target[prop as string] = value;
        return true;
      },
    });
  };
  return { effects: make(), exported };
}

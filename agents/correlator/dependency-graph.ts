/**
 * The call graph as the correlator uses it: which services are close enough
 * that their symptoms are one incident (a slow database makes its callers
 * slow), and which services of an incident the symptoms point at (those whose
 * own dependencies look healthy). Plain data in, plain data out, so the
 * machines can keep the graph in their context.
 */

/** `service → services it calls`. */
export type Topology = Readonly<Record<string, readonly string[]>>;

/** Hops between two services, calls followed either way; Infinity when not connected within `max`. */
export function distance(topology: Topology, from: string, to: string, max: number): number {
  if (from === to) return 0;
  const neighbours = (s: string): string[] => {
    const out = [...(topology[s] ?? [])];
    for (const [caller, callees] of Object.entries(topology)) if (callees.includes(s)) out.push(caller);
    return out;
  };
  let frontier = [from];
  const seen = new Set(frontier);
  for (let hops = 1; hops <= max; hops++) {
    const next: string[] = [];
    for (const s of frontier)
      for (const n of neighbours(s)) {
        if (n === to) return hops;
        if (!seen.has(n)) {
          seen.add(n);
          next.push(n);
        }
      }
    frontier = next;
  }
  return Number.POSITIVE_INFINITY;
}

/** Whether `from` calls `to`, directly or through other services. */
export function calls(topology: Topology, from: string, to: string): boolean {
  const stack = [...(topology[from] ?? [])];
  const seen = new Set<string>([from]);
  while (stack.length > 0) {
    const s = stack.pop() as string;
    if (s === to) return true;
    if (seen.has(s)) continue;
    seen.add(s);
    stack.push(...(topology[s] ?? []));
  }
  return false;
}

/** Whether `service` is on a call path with any of `services`, at any depth, either way. */
export function onCallPath(topology: Topology, service: string, services: readonly string[]): boolean {
  return services.some((s) => s === service || calls(topology, service, s) || calls(topology, s, service));
}

/** Whether `service` is within `max` hops of any of `services`. */
export function near(topology: Topology, service: string, services: readonly string[], max: number): boolean {
  return services.some((s) => distance(topology, service, s, max) <= max);
}

/**
 * The services the symptoms point at: those of `services` from which no other
 * service of `services` can be reached by following calls (every dependency
 * they have, directly or not, looks healthy). With no call graph known, or a
 * cycle, every service is a suspect. Sorted.
 */
export function suspects(topology: Topology, services: readonly string[]): string[] {
  const set = new Set(services);
  const reachesAnother = (start: string): boolean => {
    const stack = [...(topology[start] ?? [])];
    const seen = new Set<string>([start]);
    while (stack.length > 0) {
      const s = stack.pop() as string;
      if (seen.has(s)) continue;
      seen.add(s);
      if (set.has(s)) return true;
      stack.push(...(topology[s] ?? []));
    }
    return false;
  };
  const out = services.filter((s) => !reachesAnother(s));
  return (out.length > 0 ? out : [...services]).sort();
}

/**
 * The services an incident's symptoms point at, knowing what kind each
 * symptom is: the deepest of the services with a symptom of their own
 * (errors, latency, availability, saturation, new log shapes). A change of
 * traffic alone is an effect, not a cause: a callee sees less traffic when
 * its caller fails. When traffic is all there is (a surge), the topmost
 * services with it are where it came in.
 */
export function culprits(
  topology: Topology,
  ownSymptoms: Readonly<Record<string, readonly string[]>>,
  slowCallsSeenBy: Readonly<Record<string, readonly string[]>> = {},
): string[] {
  const symptoms = withCallerViews(ownSymptoms, slowCallsSeenBy);
  const services = Object.keys(symptoms);
  const own = services.filter((s) => (symptoms[s] ?? []).some((c) => c !== 'traffic' && c !== 'runtime'));
  if (own.length > 0) return suspects(topology, own);
  const traffic = services.filter((s) => (symptoms[s] ?? []).includes('traffic'));
  if (traffic.length === 0) return suspects(topology, services);
  // Topmost: no other service with a traffic change calls it, directly or not.
  const top = traffic.filter((s) => !traffic.some((o) => o !== s && calls(topology, o, s)));
  return (top.length > 0 ? top : traffic).sort();
}

/**
 * The symptoms with callers' views of their dependencies added: slow calls a
 * caller sees to a dependency are a latency symptom of that dependency, unless
 * every caller that sees them is saturated itself. A caller starved of CPU
 * times its calls on a clock that runs late: the slowness is its own, and
 * blaming the dependency would point below the fault.
 */
function withCallerViews(
  symptoms: Readonly<Record<string, readonly string[]>>,
  slowCallsSeenBy: Readonly<Record<string, readonly string[]>>,
): Record<string, readonly string[]> {
  const out: Record<string, readonly string[]> = { ...symptoms };
  for (const [dependency, callers] of Object.entries(slowCallsSeenBy)) {
    const own = out[dependency] ?? [];
    const believed = callers.some((c) => !(symptoms[c] ?? []).includes('saturation'));
    out[dependency] = believed && !own.includes('latency') ? [...own, 'latency'] : own;
  }
  return out;
}

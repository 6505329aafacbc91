/**
 * A 32-bit string hash (FNV-1a with a final avalanche) for deciding who owns
 * what: stable across processes, platforms and releases, so replicas agree
 * without talking. Not for anything an attacker could aim at.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // FNV alone clusters keys that differ only in their last characters.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

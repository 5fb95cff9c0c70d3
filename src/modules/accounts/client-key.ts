import ipaddr from 'ipaddr.js';

/**
 * The part of a client address that one client controls, for throttling: an IPv4 address
 * whole, an IPv6 address by its /64 (one subscriber gets a whole /64, so counting single IPv6
 * addresses would give them 2^64 budgets). IPv4-mapped IPv6 counts as the IPv4 address.
 */
export function clientKey(ip: string): string {
  if (!ipaddr.isValid(ip)) return `raw:${ip}`;
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

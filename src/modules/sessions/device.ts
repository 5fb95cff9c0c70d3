import { UAParser } from 'ua-parser-js';

/** "Chrome 131 on macOS", or the best part of it that the user agent gives away. */
export function deviceLabel(userAgent: string | null): string {
  if (!userAgent) return 'Unknown device';
  const ua = new UAParser(userAgent).getResult();
  const browser = [ua.browser.name, ua.browser.major].filter(Boolean).join(' ');
  // ua-parser-js 1.x says "Mac OS"; Apple's name is macOS, and browsers freeze its version at
  // 10.15.7 whatever the real one is, so a version there would mislead.
  const macOs = ua.os.name === 'Mac OS' || ua.os.name === 'macOS';
  const os = macOs ? 'macOS' : [ua.os.name, ua.os.version?.split('.')[0]].filter(Boolean).join(' ');
  if (browser && os) return `${browser} on ${os}`;
  return browser || os || userAgent.slice(0, 40);
}

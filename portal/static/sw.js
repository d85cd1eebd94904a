// kakunin's service worker: shows the sign-in approvals kakunin sends by
// Web Push and opens the approval page when one is tapped. The payload is
// the JSON of webpush.Notification: {title, body, url, numbers, tag, expires}.
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// safeURL keeps a notification from opening anything but a web page.
function safeURL(u) {
  try {
    const url = new URL(u || '/', self.location.origin);
    if (url.protocol === 'https:' || url.protocol === 'http:') {
      return url.href;
    }
  } catch (e) { /* fall through */ }
  return new URL('/', self.location.origin).href;
}

self.addEventListener('push', (event) => {
  let d = {};
  try {
    d = event.data ? event.data.json() : {};
  } catch (e) {
    d = {};
  }
  // With userVisibleOnly every push must show a notification, even one
  // that could not be read.
  const title = d.title || 'VPN';
  const options = {
    body: d.body || '',
    tag: d.tag || 'kakunin',
    requireInteraction: true,
    renotify: true,
    icon: '/static/icon-192.png',
    data: {url: safeURL(d.url), expires: d.expires || 0},
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || safeURL('/');
  event.waitUntil(self.clients.openWindow(url));
});

// Registers this browser for push-capable approvals: the service worker,
// the Notification permission (asked on the button's click, as browsers
// require) and pushManager.subscribe() with the VAPID key the page names in
// data-vapid-key. The subscription goes back in the page's own form (a
// same-origin POST), so the server shows any error as it does for others.
'use strict';

(function () {
  const root = document.getElementById('push');
  if (!root) {
    return;
  }
  const button = document.getElementById('push-enable');
  const form = document.getElementById('push-form');
  const field = document.getElementById('subscription');

  // show reveals one of the page's translated messages (none for '').
  function show(id) {
    for (const el of root.querySelectorAll('.push-msg')) {
      el.hidden = el.id !== id;
    }
    root.dataset.state = id || 'ready';
  }

  function keyBytes(b64) {
    const s = (b64 + '='.repeat((4 - b64.length % 4) % 4)).replace(/-/g, '+').replace(/_/g, '/');
    const raw = atob(s);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out;
  }

  function sameKey(a, b) {
    if (!a) {
      return false;
    }
    const x = new Uint8Array(a);
    return x.length === b.length && x.every((v, i) => v === b[i]);
  }

  const ios = /iPad|iPhone|iPod/.test(navigator.userAgent) ||
    (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
  const standalone = window.matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;
  const supported = window.isSecureContext && 'serviceWorker' in navigator &&
    'PushManager' in window && 'Notification' in window;

  if (!supported) {
    show(ios && !standalone ? 'push-ios' : 'push-unsupported');
    button.disabled = true;
    return;
  }
  if (Notification.permission === 'denied') {
    show('push-denied');
    button.disabled = true;
    return;
  }
  show('');
  // Enter in the name field registers too, rather than posting nothing.
  form.addEventListener('submit', (e) => {
    if (!field.value) {
      e.preventDefault();
      button.click();
    }
  });

  button.addEventListener('click', async () => {
    button.disabled = true;
    show('push-working');
    try {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        show(permission === 'denied' ? 'push-denied' : 'push-dismissed');
        button.disabled = permission === 'denied';
        return;
      }
      await navigator.serviceWorker.register('/sw.js', {scope: '/'});
      const reg = await navigator.serviceWorker.ready;
      const key = keyBytes(root.dataset.vapidKey);
      let sub = await reg.pushManager.getSubscription();
      if (sub && !sameKey(sub.options && sub.options.applicationServerKey, key)) {
        // Subscribed under another server key: push services would refuse
        // our messages for it.
        await sub.unsubscribe();
        sub = null;
      }
      if (!sub) {
        sub = await reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
      }
      field.value = JSON.stringify(sub);
      form.submit();
    } catch (e) {
      show('push-failed');
      button.disabled = false;
    }
  });
})();

// The conversations kept in this browser: IndexedDB, one record per conversation, and every
// change made in a transaction of its own on the newest copy of that one record, so two tabs never
// overwrite each other's turns. A BroadcastChannel tells the other tabs what changed. Without
// IndexedDB (disabled, or a private window that refuses it) the conversations live in memory for
// this page only, and `available` says so.
(() => {
  "use strict";
  const DB_NAME = "coda";
  const DB_VERSION = 1;
  const STORE = "conversations";
  const LEGACY_KEY = "coda.conversation.v1"; // the one conversation of earlier versions
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("coda.conversations") : null;
  const memory = new Map(); // the fallback when IndexedDB cannot be opened
  let opening = null;

  function newId() {
    return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  function open() {
    if (!opening) {
      opening = new Promise((resolve) => {
        let request;
        try {
          request = indexedDB.open(DB_NAME, DB_VERSION);
        } catch {
          resolve(null);
          return;
        }
        request.onupgradeneeded = () => {
          const store = request.result.createObjectStore(STORE, { keyPath: "id" });
          migrate(store);
        };
        request.onsuccess = () => {
          const db = request.result;
          db.onversionchange = () => db.close(); // a newer page upgrades: let it
          resolve(db);
        };
        request.onerror = () => resolve(null);
      });
    }
    return opening;
  }

  // Runs once, inside the upgrade that creates the store: only one tab ever runs it, and if the
  // put fails the whole upgrade is undone and tried again next time. The old copy stays where it
  // was, so nothing is lost even then.
  function migrate(store) {
    let turns = null;
    try {
      turns = JSON.parse(localStorage.getItem(LEGACY_KEY) || "null");
    } catch {
      return;
    }
    if (!Array.isArray(turns) || !turns.length) return;
    const now = Date.now();
    store.put({
      id: newId(),
      title: "",
      created: now,
      updated: now,
      turns: turns.map((turn) => ({ ...turn, id: newId() })),
      settings: {},
    });
  }

  async function available() {
    return (await open()) !== null;
  }

  // One request in one transaction; resolves when the transaction has committed.
  async function run(mode, body) {
    const db = await open();
    if (!db) return body(null);
    return new Promise((resolve, reject) => {
      let result;
      const tx = db.transaction(STORE, mode);
      const store = tx.objectStore(STORE);
      try {
        body(store, (value) => { result = value; });
      } catch (error) {
        reject(error);
        return;
      }
      tx.oncomplete = () => resolve(result);
      tx.onabort = () => reject(tx.error || new DOMException("aborted", "AbortError"));
      tx.onerror = () => {}; // onabort follows with the error
    });
  }

  async function all() {
    const records = await run("readonly", (store, done) => {
      if (!store) return [...memory.values()];
      const request = store.getAll();
      request.onsuccess = () => done(request.result);
      return undefined;
    });
    return (records || []).sort((a, b) => (b.updated || 0) - (a.updated || 0));
  }

  async function get(id) {
    return run("readonly", (store, done) => {
      if (!store) return memory.get(id);
      const request = store.get(id);
      request.onsuccess = () => done(request.result);
      return undefined;
    });
  }

  // `change(record or undefined)` returns the record to keep (a new object), or null to change
  // nothing. It runs on the copy in storage as this transaction reads it, never on a stale one.
  async function update(id, change) {
    const saved = await run("readwrite", (store, done) => {
      if (!store) {
        const next = change(memory.get(id));
        if (next) memory.set(id, next);
        return next || memory.get(id);
      }
      const request = store.get(id);
      request.onsuccess = () => {
        const next = change(request.result);
        if (!next) {
          done(request.result);
          return;
        }
        store.put(next);
        done(next);
      };
      return undefined;
    });
    announce(id);
    return saved;
  }

  async function put(record) {
    await run("readwrite", (store) => {
      if (!store) memory.set(record.id, record);
      else store.put(record);
    });
    announce(record.id);
    return record;
  }

  async function remove(id) {
    await run("readwrite", (store) => {
      if (!store) memory.delete(id);
      else store.delete(id);
    });
    announce(id);
  }

  function announce(id) {
    channel?.postMessage({ id });
  }

  // `listener(id)` hears of every change another tab commits.
  function onChange(listener) {
    if (channel) channel.addEventListener("message", (event) => listener(event.data?.id));
  }

  // Whether a failed write failed because storage is full.
  function isFull(error) {
    return error?.name === "QuotaExceededError" || error?.inner?.name === "QuotaExceededError";
  }

  window.coda = window.coda || {};
  window.coda.store = { newId, available, all, get, update, put, remove, onChange, isFull };
})();

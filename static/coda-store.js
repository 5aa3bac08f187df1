// The conversations kept in this browser: IndexedDB, one record per conversation, and every
// change made in a transaction of its own on the newest copy of that one record, so two tabs never
// overwrite each other's turns. A BroadcastChannel tells the other tabs what changed. Without
// IndexedDB (disabled, or a private window that refuses it) the conversations live in memory for
// this page only, and `available` says so.
(() => {
  "use strict";
  const DB_NAME = "coda";
  const DB_VERSION = 2;
  const STORE = "conversations";
  // Files attached to a conversation (coda-attach.js): apart from the conversation's record, so
  // saving an answer every second never rewrites megabytes of a file's text and vectors.
  const ATTACHMENTS = "attachments";
  const LEGACY_KEY = "coda.conversation.v1"; // the one conversation of earlier versions
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("coda.conversations") : null;
  const memory = new Map(); // the fallback when IndexedDB cannot be opened
  const memoryFiles = new Map(); // attachments, likewise
  const problems = []; // listeners told when a newer coda takes the database over
  let opening = null; // the promise of the open connection (null: open again when next asked)
  let connection = null; // the connection `opening` gave, while the browser keeps it open
  let opened = false; // whether IndexedDB ever opened: after that, a failure is no fallback
  let outdated = false; // a newer version of coda upgraded the database: this page cannot save

  function newId() {
    return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  // The error a page gets once a newer coda owns the database (its name is IndexedDB's own).
  function outdatedError() {
    return new DOMException("a newer version of coda owns the database", "VersionError");
  }

  // Browsers close connections on their own: Safari those of a tab in the background, every
  // browser when storage is cleared, and each tab's when another opens the database at a newer
  // version. The next operation opens it again.
  function forget(db) {
    if (connection !== db) return;
    connection = null;
    opening = null;
  }

  function open() {
    if (outdated) return Promise.reject(outdatedError());
    if (!opening) {
      const attempt = new Promise((resolve, reject) => {
        let request;
        try {
          request = indexedDB.open(DB_NAME, DB_VERSION);
        } catch (error) {
          settleFailure(error, resolve, reject);
          return;
        }
        request.onupgradeneeded = (event) => {
          const db = request.result;
          if (event.oldVersion < 1) migrate(db.createObjectStore(STORE, { keyPath: "id" }));
          if (event.oldVersion < 2) {
            db.createObjectStore(ATTACHMENTS, { keyPath: "id" }).createIndex("conversation", "conversation");
          }
        };
        request.onsuccess = () => {
          const db = request.result;
          opened = true;
          connection = db;
          db.onversionchange = (event) => {
            db.close(); // a newer page upgrades, or one deletes the database: let it
            forget(db);
            if (event.newVersion !== null) becameOutdated();
          };
          db.onclose = () => forget(db); // closed by the browser, not by us
          resolve(db);
        };
        request.onerror = () => settleFailure(request.error, resolve, reject);
      });
      opening = attempt;
      attempt.catch(() => {
        if (opening === attempt) opening = null; // the next operation tries again
      });
    }
    return opening;
  }

  // Never opened: this browser has no IndexedDB for us, and the records live in memory (null).
  // Opened before: the failure is the operation's, and the next one tries again.
  function settleFailure(error, resolve, reject) {
    if (error?.name === "VersionError") becameOutdated();
    if (!opened && !outdated) {
      resolve(null);
      return;
    }
    reject(outdated ? outdatedError() : error || new DOMException("closed", "InvalidStateError"));
  }

  function becameOutdated() {
    if (outdated) return;
    outdated = true;
    for (const listener of problems) listener(outdatedError());
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
    try {
      return (await open()) !== null;
    } catch {
      return false;
    }
  }

  // One request in one transaction; resolves when the transaction has committed. A connection
  // the browser closed meanwhile is opened again and the operation tried once more: a
  // transaction that could not start, or was aborted with its connection, changed nothing.
  async function run(mode, body, name = STORE) {
    const db = await open();
    if (!db) return body(null);
    try {
      return await transact(db, mode, body, name);
    } catch (error) {
      if (connection === db && error?.name !== "InvalidStateError") throw error;
      forget(db);
      const again = await open();
      if (!again) return body(null);
      return transact(again, mode, body, name);
    }
  }

  function transact(db, mode, body, name) {
    return new Promise((resolve, reject) => {
      let result;
      const tx = db.transaction(name, mode); // throws InvalidStateError once closed
      const store = tx.objectStore(name);
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

  // --- Attached files: {id, conversation, name, kind, mode, text | passages + vectors, bytes, ...}

  async function attachmentsOf(conversation) {
    const found = await run("readonly", (store, done) => {
      if (!store) return [...memoryFiles.values()].filter((file) => file.conversation === conversation);
      const request = store.index("conversation").getAll(conversation);
      request.onsuccess = () => done(request.result);
      return undefined;
    }, ATTACHMENTS);
    return (found || []).sort((a, b) => a.created - b.created);
  }

  // Every attachment's size and conversation (not its text): what the page shows as kept.
  async function attachmentSizes() {
    const found = await run("readonly", (store, done) => {
      if (!store) return [...memoryFiles.values()].map(({ id, conversation, bytes }) => ({ id, conversation, bytes }));
      const sizes = [];
      const request = store.openCursor();
      request.onsuccess = () => {
        const cursor = request.result;
        if (!cursor) {
          done(sizes);
          return;
        }
        const { id, conversation, bytes } = cursor.value;
        sizes.push({ id, conversation, bytes });
        cursor.continue();
      };
      return undefined;
    }, ATTACHMENTS);
    return found || [];
  }

  async function putAttachment(file) {
    await run("readwrite", (store) => {
      if (!store) memoryFiles.set(file.id, file);
      else store.put(file);
    }, ATTACHMENTS);
    announce(file.conversation);
    return file;
  }

  async function removeAttachment(id, conversation) {
    await run("readwrite", (store) => {
      if (!store) memoryFiles.delete(id);
      else store.delete(id);
    }, ATTACHMENTS);
    announce(conversation);
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

  // Whether an operation failed because a newer coda owns the database (reloading fixes it).
  function isOutdated(error) {
    return outdated || error?.name === "VersionError";
  }

  // `listener(error)` hears when a newer coda takes the database over: from then on this page
  // cannot save, and should say so at once rather than at its next save.
  function onOutdated(listener) {
    problems.push(listener);
  }

  window.coda = window.coda || {};
  window.coda.store = {
    version: DB_VERSION, // the database's version this page opens (a newer coda's is higher)
    newId,
    available,
    all,
    get,
    update,
    put,
    remove,
    attachmentsOf,
    attachmentSizes,
    putAttachment,
    removeAttachment,
    onChange,
    isFull,
    isOutdated,
    onOutdated,
  };
})();

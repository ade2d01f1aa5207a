// The public GraphQL API, as any client sees it: queries and mutations over HTTP, subscriptions
// over graphql-transport-ws (reconnecting, with the subscriptions restored after a restart).

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? null;
  }
}

export class Api {
  constructor(url, tokenSource) {
    this.url = url;
    this.tokenSource = tokenSource;
  }

  /** The `data` of an operation; throws GraphQLError on request errors. */
  async request(query, variables = {}) {
    const response = await fetch(this.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
        Authorization: `Bearer ${this.tokenSource()}`,
      },
      body: JSON.stringify({ query, variables }),
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new GraphQLError([{ message: `the server answered ${response.status}` }]);
    }
    if (body.errors?.length) throw new GraphQLError(body.errors);
    return body.data;
  }
}

const RETRY_MS = [500, 1000, 2000, 5000, 10000];

/**
 * One graphql-transport-ws connection carrying every subscription of the page. After the server
 * goes away it reconnects with backoff, subscribes again and calls `onReconnect` (the page then
 * reloads what it may have missed). `onStatus` hears "connecting", "live", "reconnecting".
 */
export class LiveConnection {
  constructor(url, tokenSource, { onStatus = () => {}, onReconnect = () => {}, onRejected = () => {} } = {}) {
    this.url = url;
    this.tokenSource = tokenSource;
    this.onStatus = onStatus;
    this.onReconnect = onReconnect;
    this.onRejected = onRejected;
    this.subscriptions = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.closed = false;
    this.everConnected = false;
    this.socket = null;
    this.connect();
  }

  connect() {
    this.onStatus(this.everConnected ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: { token: this.tokenSource() } }));
    };
    socket.onmessage = (event) => this.receive(socket, JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed) return;
      if (event.code === 4401 || event.code === 4403) {
        this.onStatus("offline");
        this.onRejected(event.code);
        return;
      }
      const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
      this.attempt += 1;
      this.onStatus("reconnecting");
      setTimeout(() => !this.closed && this.connect(), delay);
    };
  }

  receive(socket, message) {
    switch (message.type) {
      case "connection_ack": {
        const reconnected = this.everConnected;
        this.everConnected = true;
        this.attempt = 0;
        for (const [id, subscription] of this.subscriptions) this.sendSubscribe(socket, id, subscription);
        this.onStatus("live");
        if (reconnected) this.onReconnect();
        break;
      }
      case "ping":
        socket.send(JSON.stringify({ type: "pong" }));
        break;
      case "next": {
        const subscription = this.subscriptions.get(message.id);
        if (subscription && message.payload?.data) subscription.onData(message.payload.data);
        if (subscription && message.payload?.errors) subscription.onError?.(message.payload.errors);
        break;
      }
      case "error":
        this.subscriptions.get(message.id)?.onError?.(message.payload);
        break;
      default:
        break;
    }
  }

  sendSubscribe(socket, id, { query, variables }) {
    socket.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables } }));
  }

  /** Subscribe; returns a function that ends the subscription. */
  subscribe(query, variables, onData, onError) {
    const id = String(this.nextId++);
    const subscription = { query, variables, onData, onError };
    this.subscriptions.set(id, subscription);
    if (this.socket?.readyState === WebSocket.OPEN && this.everConnected) {
      this.sendSubscribe(this.socket, id, subscription);
    }
    return () => {
      this.subscriptions.delete(id);
      if (this.socket?.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ id, type: "complete" }));
      }
    };
  }

  close() {
    this.closed = true;
    this.subscriptions.clear();
    this.socket?.close(1000, "bye");
  }
}

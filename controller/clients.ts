/** The clients connected to the hub, by routing identity: they get heartbeats and engine events. */
export class ClientRegistry {
  readonly #clients = new Map<string, Buffer>();

  get size(): number {
    return this.#clients.size;
  }

  add(identity: Buffer): void {
    this.#clients.set(identity.toString('latin1'), identity);
  }

  /** The client has gone (a send to it found no peer); its results stay in the records. */
  remove(identity: Buffer): void {
    this.#clients.delete(identity.toString('latin1'));
  }

  all(): IterableIterator<Buffer> {
    return this.#clients.values();
  }
}

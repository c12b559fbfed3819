/**
 * Runs critical sections one at a time, in arrival order. Workflow handlers interleave at every
 * await; the grant's attempts and token rotations must not.
 */
export class Lock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

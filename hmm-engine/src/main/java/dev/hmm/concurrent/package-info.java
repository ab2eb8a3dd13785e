/**
 * Lock-free building blocks shared by the engine, and the access-mode vocabulary used on every hot field.
 *
 * <h2>Access-mode vocabulary</h2>
 * Hot-path accessors are prefixed with the memory mode they use, as JCTools does, mapped to {@link
 * java.lang.invoke.VarHandle} modes:
 * <pre>
 *  prefix   VarHandle mode        meaning
 *  lp / sp  get / set             plain load / store: single writer, or guarded by a lock
 *  lo / so  getOpaque / setRelease  opaque load / ordered (release) store: StoreStore before the store
 *  la       getAcquire            acquire load: later loads and stores stay after it
 *  lv / sv  getVolatile / setVolatile  volatile (sequentially consistent) load / store
 *  cas      compareAndSet         volatile compare-and-set; false means another thread changed the word
 *  cae      compareAndExchange    as cas, returns the witness value
 *  xchg     getAndSet             volatile exchange
 *  xadd     getAndAdd             volatile fetch-and-add
 * </pre>
 * A method named {@code casPte} therefore tells the reader its ordering without opening it. Cold code may use
 * Caffeine-style suffixes instead ({@code drainStatusOpaque()}).
 */
package dev.hmm.concurrent;

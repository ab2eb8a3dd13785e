/**
 * The policy SPIs: what a plug-in implements to decide for the engine (this package), and nothing else. Policy
 * implementations live in the {@code policies} module; the engine never names one. Modelled on Caffeine's simulator
 * {@code Policy}: a small interface, a name from {@link dev.hmm.policy.PolicySpec}, events in, decisions out.
 */
package dev.hmm.policy;

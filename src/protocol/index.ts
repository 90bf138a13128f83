/** The protocol room: the domain vocabulary and the TS ⇄ engine wire union, imported by every stage. */
export * from "./vocabulary.js";
export * from "./wire.js";

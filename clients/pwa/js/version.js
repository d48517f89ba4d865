/** The app's version (reported to the server with each push) and the wire schema it speaks. */
export const APP_VERSION = '0.1.0';
// 2: trip segments' points in the compact form (js/track.js); the server still reads 1.
export const SCHEMA_VERSION = 2;

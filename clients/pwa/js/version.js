/** The app's version (reported to the server with each push) and the wire schema it speaks. */
export const APP_VERSION = '0.1.0';
export const SCHEMA_VERSION = 1;

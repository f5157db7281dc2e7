export { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";

export * from "./client.js";
export * from "./errors.js";
export * from "./gen/visionstudio/image/v1/image_service.js";

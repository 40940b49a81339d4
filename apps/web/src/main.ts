// Web app entry: boot and route to the room, contribute and chat pages.
export {};
